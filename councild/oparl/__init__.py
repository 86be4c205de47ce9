"""OParl: importing a meeting (title, agenda, councillors and their groups) from the
council information system (docs/oparl.md).

client.py fetches over HTTP with bounds; model.py reads OParl 1.0/1.1 objects tolerantly;
importer.py builds the session; seatplan.py places councillors on seats; diff.py compares
a re-import with the session file; session_toml.py writes it; commands.py is the CLI.
"""
