#!/usr/bin/env bash
# Place SIP calls through Kamailio asking callcredit, everything on 127.0.0.1.
#
#   integrations/sipp/run.sh -a ACCOUNT -e EXTENSION [-d CALL_MS] [-n CALLS]
#                            [-l CONCURRENT] [--url URL --token TOKEN] NUMBER
#
# Starts `callcredit serve` (on the database of CALLCREDIT_DATABASE_URL,
# unless --url points at a running one), a SIPp callee standing in for the
# carrier, and Kamailio with integrations/kamailio/kamailio.cfg; places the
# calls with SIPp; prints one line per call ("<call-id><TAB><outcome>");
# stops everything it started, by pid. Logs stay in --work-dir (default: a
# new temporary folder, printed at the end). See --help for every option.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 "$here/harness.py" "$@"
