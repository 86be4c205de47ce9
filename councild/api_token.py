"""The TCP control API's token: present and long enough, or a clear configuration error."""

from __future__ import annotations

import os

from councild.errors import ConfigError
from councild.i18n import _

# A token shorter than this is guessable even at the few guesses a second the API allows.
MIN_TOKEN_LENGTH = 16


def api_token_check(token_env: str) -> str:
    """The token from `token_env`; ConfigError naming the key and the problem otherwise."""
    token = os.environ.get(token_env, "")
    if not token:
        raise ConfigError("api.token_env", [(token_env, _(
            "api.tcp is set but {var} is empty: a TCP control API needs a token").format(
                var=token_env))])
    if len(token) < MIN_TOKEN_LENGTH or token != token.strip():
        raise ConfigError("api.token_env", [(token_env, _(
            "the token in {var} is too short: at least {n} characters, no surrounding "
            "spaces (for example: openssl rand -hex 16)").format(var=token_env,
                                                                n=MIN_TOKEN_LENGTH))])
    return token
