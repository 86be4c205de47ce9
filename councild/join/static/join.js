// The remote councillor's join page: publishes camera and microphone into the session's
// VideoRoom, plays the chamber programme, and drives the floor over the control socket
// (docs/join.md). With hybrid audio (config.audio) the microphone goes to the AudioBridge
// instead, over a second proxied Janus connection, and the page plays the mix it gets there
// (the chamber and the other remote councillors, never itself) with the programme's picture;
// the programme's own sound is not played. Every text comes from config.strings.
/* global Janus */
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("join-config").textContent);
  const S = config.strings;
  const token = location.pathname.split("/").filter(Boolean).pop() || "";
  const instance = randomHex(8);
  const wsBase = (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host;

  // Close codes from councild/join/server.py: the page was replaced / refused.
  const CLOSE_REPLACED = 4409;
  const CLOSE_REFUSED = 4403;
  // Reconnect delays double from 1 s; 10 s keeps a councillor whose Wi-Fi came back from
  // waiting long, without hammering a daemon that is restarting.
  const BACKOFF_FIRST_MS = 1000;
  const BACKOFF_MAX_MS = 10000;
  // A chamber feed that is not in the room yet is looked for again at this interval, in case
  // its `publishers` announcement was missed (e.g. it came while Janus was reconnecting).
  const CHAMBER_RETRY_MS = 5000;
  // Janus VideoRoom: "No such feed" when subscribing to a publisher that is not there.
  const JANUS_NO_SUCH_FEED = 428;
  const COUNTDOWN_TICK_MS = 250;

  const el = (id) => document.getElementById(id);
  const ui = {
    button: el("floor-button"), status: el("status"), remaining: el("remaining"),
    notice: el("notice"), play: el("play-button"), chamber: el("chamber-video"),
    self: el("self-video"), camera: el("camera-select"), mic: el("mic-select"),
  };

  let stopped = false; // replaced or refused: nothing reconnects any more
  let status = "connecting";
  const notices = new Map(); // source → text; several can stand at once

  // --- text -------------------------------------------------------------------------------

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, key) =>
      Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole);
  }

  function randomHex(bytes) {
    const raw = new Uint8Array(bytes);
    crypto.getRandomValues(raw);
    return Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function setNotice(source, text) {
    if (text) notices.set(source, text); else notices.delete(source);
    ui.notice.textContent = Array.from(notices.values()).join("\n");
    ui.notice.hidden = notices.size === 0;
  }

  function staticTexts() {
    document.title = S.title;
    el("title").textContent = S.title;
    el("joining-as").textContent = fill(S.joining_as, { name: config.name });
    el("languages").setAttribute("aria-label", S.language);
    for (const link of el("languages").querySelectorAll("a")) {
      if (link.hreflang === config.lang) link.setAttribute("aria-current", "page");
    }
    el("chamber-caption").textContent = S.chamber;
    ui.chamber.setAttribute("aria-label", S.chamber);
    el("self-caption").textContent = S.self_view;
    ui.self.setAttribute("aria-label", S.self_view);
    el("camera-label").textContent = S.camera;
    el("mic-label").textContent = S.microphone;
    ui.play.textContent = S.play;
    if (config.chamber === null) el("chamber").hidden = true;
  }

  // --- floor status -----------------------------------------------------------------------

  const BUTTON = {
    connecting: { text: "request", op: null },
    muted: { text: "request", op: "request" },
    waiting: { text: "withdraw", op: "withdraw" },
    speaking: { text: "finish", op: "finish" },
  };
  let deadline = null; // performance.now() ms when the speaking time runs out
  let over = false;
  let ticker = null;

  function showStatus(msg) {
    const next = BUTTON[msg.status] ? msg.status : "connecting";
    if (next !== status) setNotice("refused", null); // a refusal is about the old state
    status = next;
    document.body.dataset.status = status;
    ui.status.textContent = fill(S["status_" + status], { position: msg.position ?? "" });
    ui.button.textContent = S[BUTTON[status].text];
    ui.button.disabled = stopped || BUTTON[status].op === null || !control.isOpen();
    setNotice("all_muted", msg.all_muted ? S.all_muted : null);
    over = Boolean(msg.over);
    deadline = status === "speaking" && typeof msg.remaining === "number"
      ? performance.now() + msg.remaining * 1000 : null;
    showRemaining();
  }

  function showRemaining() {
    const visible = status === "speaking" && (deadline !== null || over);
    ui.remaining.hidden = !visible;
    if (!visible) {
      if (ticker !== null) { clearInterval(ticker); ticker = null; }
      return;
    }
    const left = deadline === null ? 0 : (deadline - performance.now()) / 1000;
    if (over || left <= 0) {
      ui.remaining.textContent = S.over;
    } else {
      const whole = Math.ceil(left);
      const time = Math.floor(whole / 60) + ":" + String(whole % 60).padStart(2, "0");
      ui.remaining.textContent = fill(S.remaining, { time });
    }
    if (ticker === null) ticker = setInterval(showRemaining, COUNTDOWN_TICK_MS);
  }

  ui.button.addEventListener("click", () => {
    const op = BUTTON[status].op;
    if (op !== null) control.send({ op });
  });

  // --- control socket ---------------------------------------------------------------------

  const control = (function () {
    let ws = null;
    let delay = BACKOFF_FIRST_MS;

    function connect() {
      if (stopped) return;
      // lang: refusals come back in the page's language
      const socket = new WebSocket(wsBase + "/control/" + encodeURIComponent(token) +
        "?i=" + instance + "&lang=" + encodeURIComponent(config.lang));
      ws = socket;
      socket.addEventListener("open", () => {
        delay = BACKOFF_FIRST_MS;
        setNotice("connection", null);
      });
      socket.addEventListener("message", (event) => {
        if (socket !== ws) return;
        let msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        if (msg.type === "status") showStatus(msg);
        else if (msg.type === "refused") {
          setNotice("refused", fill(S.refused, { reason: msg.message ?? "" }));
        } else if (msg.type === "replaced") replaced();
      });
      socket.addEventListener("close", (event) => {
        if (socket !== ws) return; // an older socket of ours, already superseded
        ws = null;
        if (event.code === CLOSE_REPLACED) { replaced(); return; }
        if (event.code === CLOSE_REFUSED) { stop(); return; }
        if (stopped) return;
        showStatus({ status: "connecting" });
        setNotice("connection", S.disconnected);
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      });
    }

    return {
      connect,
      isOpen: () => ws !== null && ws.readyState === WebSocket.OPEN,
      send: (msg) => { if (ws !== null && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); },
      close: () => { const socket = ws; ws = null; if (socket) socket.close(); },
    };
  })();

  function stop() {
    stopped = true;
    ui.button.disabled = true;
    ui.camera.disabled = true;
    ui.mic.disabled = true;
    media.stop();
    voice.stop();
    control.close();
  }

  function replaced() {
    if (document.body.dataset.replaced === "true") return;
    document.body.dataset.replaced = "true";
    notices.clear();
    setNotice("replaced", S.replaced);
    stop();
    // The floor status of this page means nothing any more: the other page has it
    status = "connecting";
    deadline = null;
    over = false;
    showRemaining();
    ui.status.textContent = "";
  }

  // --- Janus: publish, and play the chamber -----------------------------------------------

  const media = (function () {
    let janus = null;
    let publisher = null;
    let subscriber = null;
    let delay = BACKOFF_FIRST_MS;
    let retryTimer = null;
    let chamberTimer = null;
    let subscribing = false;
    const chamberTracks = new Map(); // mid → remote track
    const local = { audio: null, video: null }; // the tracks being published
    let withVideo = false; // a video line is published (replaceTracks needs one)

    function start() {
      if (stopped) return;
      if (!Janus.isWebrtcSupported()) { setNotice("media", S.webrtc_unsupported); return; }
      const session = new Janus({
        server: wsBase + "/janus/" + encodeURIComponent(token) + "?i=" + instance,
        // Janus has the public address; the browser needs no STUN server of its own (and
        // must not contact any third party).
        iceServers: [],
        success: attachPublisher,
        error: lostFrom(() => session),
        destroyed: () => {},
      });
      janus = session;
    }

    // A failure counts only for the current session: an old one's late errors must not
    // tear down its successor.
    function lostFrom(sessionOf) {
      return (error) => { if (sessionOf() === janus && janus !== null) lost(error); };
    }

    function lost(error) {
      console.warn("join: Janus session lost:", error);
      teardown();
      if (stopped) return;
      setNotice("connection", S.disconnected);
      retryTimer = setTimeout(() => { retryTimer = null; start(); }, delay);
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }

    function teardown() {
      clearTimeout(chamberTimer);
      chamberTimer = null;
      const old = janus;
      janus = publisher = subscriber = null;
      subscribing = false;
      if (old) old.destroy({ cleanupHandles: true, notifyDestroyed: false });
      for (const kind of ["audio", "video"]) {
        if (local[kind]) local[kind].stop();
        local[kind] = null;
      }
      ui.self.srcObject = null;
      delete document.body.dataset.room;
      delete document.body.dataset.chamber;
    }

    function stop() {
      clearTimeout(retryTimer);
      retryTimer = null;
      if (publisher) publisher.hangup();
      if (subscriber) subscriber.hangup();
      teardown();
      ui.chamber.pause();
      ui.play.hidden = true;
    }

    function attachPublisher() {
      const session = janus;
      session.attach({
        plugin: "janus.plugin.videoroom",
        opaqueId: "join-" + instance,
        success: (handle) => {
          if (session !== janus) return;
          publisher = handle;
          handle.send({
            message: { request: "join", ptype: "publisher", room: config.room,
              display: config.name },
            error: lostFrom(() => session),
          });
        },
        error: lostFrom(() => session),
        onmessage: (msg, jsep) => onPublisherMessage(session, msg, jsep),
        onlocaltrack: onLocalTrack,
        webrtcState: (up) => {
          if (up && session === janus) {
            document.body.dataset.room = "published";
            delay = BACKOFF_FIRST_MS;
          }
        },
      });
    }

    function onPublisherMessage(session, msg, jsep) {
      if (session !== janus) return;
      const event = msg.videoroom;
      if (event === "joined") {
        document.body.dataset.room = "joined";
        setNotice("connection", null);
        // A councillor who chose "no camera" before a reconnect stays without one
        const camera = !(ui.camera.options.length > 0 && ui.camera.value === "");
        withVideo = false;
        publish(config.audio ? (camera ? ["video"] : []) : (camera ? ["audio", "video"] : ["audio"]));
        if (config.chamber !== null) {
          noticePublishers(msg.publishers);
          subscribeChamber();
          chamberTimer = setInterval(() => { if (!subscriber) subscribeChamber(); },
            CHAMBER_RETRY_MS);
        }
      } else if (event === "event") {
        noticePublishers(msg.publishers);
        const gone = msg.unpublished ?? msg.leaving;
        if (config.chamber !== null && gone === config.chamber) chamberGone();
        if (msg.error && !document.body.dataset.room) {
          // The join failed (e.g. the room is not there yet after Janus restarted): retry
          lostFrom(() => session)(msg.error);
          return;
        }
        if (msg.error) console.warn("join: VideoRoom:", msg.error_code, msg.error);
      }
      if (jsep && publisher) publisher.handleRemoteJsep({ jsep });
    }

    // Publishes the tracks of these kinds: both at first, or video alone when a councillor
    // who started without a camera picks one (a renegotiation that adds the video line).
    function publish(kinds) {
      const handle = publisher;
      if (kinds.length === 0) return; // hybrid audio without a camera: nothing for this room
      const choice = (select) => (select.value ? { deviceId: { exact: select.value } } : true);
      const select = { audio: ui.mic, video: ui.camera };
      handle.createOffer({
        tracks: kinds.map((kind) => ({ type: kind, capture: choice(select[kind]), recv: false })),
        success: (offer) => {
          if (handle !== publisher) return;
          withVideo = withVideo || kinds.includes("video");
          handle.send({ message: { request: "configure", audio: kinds.includes("audio"),
            video: withVideo }, jsep: offer });
          setNotice("media", null);
        },
        error: (error) => {
          const name = error && error.name;
          if (kinds.includes("video") && (name === "NotFoundError" ||
              name === "OverconstrainedError" || name === "NotReadableError")) {
            // No usable camera (or it is busy): take part with the microphone alone
            withVideo = false;
            publish(config.audio ? [] : ["audio"]);
            return;
          }
          setNotice("media", name === "NotAllowedError" || name === "SecurityError"
            ? S.media_denied
            : fill(S.media_failed, { error: (error && error.message) || String(error) }));
        },
      });
    }

    function onLocalTrack(track, on) {
      const kind = track.kind;
      if (!on) {
        if (local[kind] === track) local[kind] = null;
        if (kind === "video" && !local.video) ui.self.srcObject = null;
        return;
      }
      local[kind] = track;
      if (kind === "video") Janus.attachMediaStream(ui.self, new MediaStream([track]));
      listDevices();
    }

    // --- devices ---

    async function listDevices() {
      let devices;
      try {
        devices = await navigator.mediaDevices.enumerateDevices();
      } catch (e) {
        return;
      }
      fillSelect(ui.camera, devices.filter((d) => d.kind === "videoinput"), local.video, true);
      fillSelect(ui.mic, devices.filter((d) => d.kind === "audioinput"),
        config.audio ? voice.track() : local.audio, false);
    }

    function fillSelect(select, devices, track, offerNone) {
      const current = track ? track.getSettings().deviceId : "";
      const options = [];
      if (offerNone) options.push(new Option(S.no_camera, ""));
      devices.forEach((d, i) => {
        // Labels are empty until permission was given; a number still tells them apart
        const label = d.label || (select === ui.camera ? S.camera : S.microphone) + " " + (i + 1);
        options.push(new Option(label, d.deviceId));
      });
      select.replaceChildren(...options);
      select.value = current || "";
      select.disabled = stopped || devices.length === 0;
    }

    function switchDevice(kind, select) {
      if (!publisher) return;
      const old = local[kind];
      const track = select.value
        ? { type: kind, capture: { deviceId: { exact: select.value } }, recv: false }
        : { type: kind, remove: true, recv: false };
      publisher.replaceTracks({
        tracks: [track],
        success: () => {
          // janus.js stops a removed track but not a replaced one: the old camera or
          // microphone would stay on
          if (old && old !== local[kind]) old.stop();
          if (!select.value) { local[kind] = null; ui.self.srcObject = null; }
          setNotice("media", null);
        },
        error: (error) => setNotice("media", fill(S.media_failed,
          { error: (error && error.message) || String(error) })),
      });
    }

    ui.camera.addEventListener("change", () => {
      if (withVideo) switchDevice("video", ui.camera);
      else if (ui.camera.value && publisher) {
        // Started without a camera: the published stream has no video line to replace
        publish(["video"]);
      }
    });
    ui.mic.addEventListener("change", () => {
      if (!ui.mic.value) return;
      if (config.audio) voice.restart(); else switchDevice("audio", ui.mic);
    });
    if (navigator.mediaDevices) {
      navigator.mediaDevices.addEventListener("devicechange", () => { if (publisher) listDevices(); });
    }

    // --- the chamber programme ---

    function noticePublishers(list) {
      if (!Array.isArray(list) || config.chamber === null) return;
      if (list.some((p) => p.id === config.chamber) && !subscriber) subscribeChamber();
    }

    function chamberGone() {
      if (subscriber) subscriber.detach();
      subscriber = null;
      chamberTracks.clear();
      ui.chamber.srcObject = null;
      delete document.body.dataset.chamber;
    }

    function subscribeChamber() {
      if (!janus || subscribing || subscriber || stopped) return;
      subscribing = true;
      const session = janus;
      let handle = null;
      session.attach({
        plugin: "janus.plugin.videoroom",
        opaqueId: "join-" + instance,
        success: (h) => {
          handle = h;
          if (session !== janus) { h.detach(); return; }
          h.send({
            message: { request: "join", ptype: "subscriber", room: config.room,
              streams: [{ feed: config.chamber }] },
            error: (error) => {
              subscribing = false;
              console.warn("join: chamber join:", error);
              h.detach();
            },
          });
        },
        error: (error) => { subscribing = false; console.warn("join: chamber attach:", error); },
        onmessage: (msg, jsep) => {
          if (session !== janus) return;
          if (msg.error) {
            // Not in the room yet (JANUS_NO_SUCH_FEED) or refused: try again later
            subscribing = false;
            if (msg.error_code !== JANUS_NO_SUCH_FEED) console.warn("join: chamber:", msg.error);
            handle.detach();
            return;
          }
          if (msg.videoroom === "attached") {
            subscribing = false;
            subscriber = handle;
          }
          if (jsep) answer(handle, jsep);
        },
        onremotetrack: (track, mid, on) => {
          if (on) chamberTracks.set(mid, track); else chamberTracks.delete(mid);
          const tracks = Array.from(chamberTracks.values());
          Janus.attachMediaStream(ui.chamber, tracks.length ? new MediaStream(tracks) : null);
          // hybrid audio: the chamber is heard in the AudioBridge mix, not the programme
          ui.chamber.muted = Boolean(config.audio);
          if (tracks.length) playChamber();
        },
        oncleanup: () => { chamberTracks.clear(); },
      });
    }

    function answer(handle, jsep) {
      handle.createAnswer({
        jsep,
        tracks: [
          { type: "audio", capture: false, recv: true },
          { type: "video", capture: false, recv: true },
        ],
        success: (ours) => handle.send({ message: { request: "start" }, jsep: ours }),
        error: (error) => console.warn("join: chamber answer:", error),
      });
    }

    function playChamber() {
      const attempt = ui.chamber.play();
      if (!attempt) return;
      attempt.then(() => { ui.play.hidden = true; }).catch((error) => {
        // Autoplay with sound needs a gesture in some browsers; AbortError only means a
        // newer stream replaced this one, which plays by itself.
        if (error.name === "NotAllowedError") ui.play.hidden = false;
      });
    }

    ui.play.addEventListener("click", playChamber);
    ui.chamber.addEventListener("playing", () => {
      document.body.dataset.chamber = "playing";
      ui.play.hidden = true;
    });

    return { start, stop, listDevices };
  })();

  // --- hybrid audio: the microphone into the AudioBridge, its mix played -------------------

  const voice = (function () {
    let janus = null;
    let handle = null;
    let delay = BACKOFF_FIRST_MS;
    let retryTimer = null;
    let mic = null; // the microphone track sent to the AudioBridge
    const mix = el("mix-audio");

    function start() {
      if (stopped || !config.audio) return;
      const session = new Janus({
        server: wsBase + "/janus-audio/" + encodeURIComponent(token) + "?i=" + instance,
        iceServers: [],
        success: () => attach(session),
        error: (error) => { if (session === janus) lost(error); },
        destroyed: () => {},
      });
      janus = session;
    }

    function lost(error) {
      console.warn("join: AudioBridge session lost:", error);
      teardown();
      if (stopped) return;
      retryTimer = setTimeout(() => { retryTimer = null; start(); }, delay);
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }

    function teardown() {
      const old = janus;
      janus = handle = null;
      if (old) old.destroy({ cleanupHandles: true, notifyDestroyed: false });
      if (mic) { mic.stop(); mic = null; }
      mix.srcObject = null;
      delete document.body.dataset.mix;
    }

    function stop() {
      clearTimeout(retryTimer);
      retryTimer = null;
      if (handle) handle.hangup();
      teardown();
    }

    function restart() { // another microphone: a new connection with it
      if (!config.audio || stopped) return;
      stop();
      start();
    }

    function attach(session) {
      session.attach({
        plugin: "janus.plugin.audiobridge",
        opaqueId: "join-audio-" + instance,
        success: (h) => {
          if (session !== janus) return;
          handle = h;
          // the proxy sets who we are (name, id, group) and that we join muted
          h.send({ message: { request: "join", room: config.audio.room },
            error: (error) => lost(error) });
        },
        error: (error) => { if (session === janus) lost(error); },
        onmessage: (msg, jsep) => {
          if (session !== janus) return;
          if (msg.audiobridge === "joined" && msg.id !== undefined) offer(handle);
          else if (msg.error) {
            console.warn("join: AudioBridge:", msg.error_code, msg.error);
            if (!document.body.dataset.mix) { lost(msg.error); return; }
          }
          if (jsep && handle) handle.handleRemoteJsep({ jsep });
        },
        onlocaltrack: (track, on) => {
          if (on) { mic = track; media.listDevices(); } else if (mic === track) mic = null;
        },
        onremotetrack: (track, mid, on) => {
          Janus.attachMediaStream(mix, on ? new MediaStream([track]) : null);
          if (on) play();
        },
        webrtcState: (up) => { if (up && session === janus) delay = BACKOFF_FIRST_MS; },
      });
    }

    function offer(h) {
      if (!h) return;
      const capture = ui.mic.value ? { deviceId: { exact: ui.mic.value } } : true;
      h.createOffer({
        tracks: [{ type: "audio", capture, recv: true }],
        success: (jsep) => h.send({ message: { request: "configure" }, jsep }),
        error: (error) => {
          const name = error && error.name;
          setNotice("media", name === "NotAllowedError" || name === "SecurityError"
            ? S.media_denied
            : fill(S.media_failed, { error: (error && error.message) || String(error) }));
        },
      });
    }

    function play() {
      const attempt = mix.play();
      if (!attempt) return;
      attempt.catch((error) => {
        if (error.name === "NotAllowedError") ui.play.hidden = false;
      });
    }

    ui.play.addEventListener("click", play);
    mix.addEventListener("playing", () => { document.body.dataset.mix = "playing"; });

    return { start, stop, restart, track: () => mic };
  })();

  // --- start ------------------------------------------------------------------------------

  staticTexts();
  showStatus({ status: "connecting" });
  control.connect();
  Janus.init({
    debug: false,
    dependencies: Janus.useDefaultDependencies(),
    callback: () => { media.start(); voice.start(); },
  });
})();
