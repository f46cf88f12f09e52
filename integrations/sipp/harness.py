"""Run real SIP calls through Kamailio and callcredit, on 127.0.0.1 only.

Starts, each as its own process and stopped by its pid:

- ``callcredit serve`` (unless a running instance is given),
- Kamailio with ``integrations/kamailio/kamailio.cfg`` in the foreground,
- a SIPp callee standing in for the carrier (``callee.xml``),

then places calls with the SIPp caller (``caller.xml``) and reports, per
SIP Call-ID, what happened ("hangup caller", "hangup proxy", "rejected 402
insufficient_funds", ...).

Used by ``integrations/sipp/run.sh`` (see ``--help``) and by the end-to-end
tests in ``tests/e2e/test_sip.py``. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
KAMAILIO_CFG = HERE.parent / "kamailio" / "kamailio.cfg"
CALLER_XML = HERE / "caller.xml"
CALLEE_XML = HERE / "callee.xml"
BUSY_CALLEE_XML = HERE / "callee_busy.xml"
LOCALHOST = "127.0.0.1"
TOOLS = ("kamailio", "sipp")


class HarnessError(RuntimeError):
    """A process of the harness did not start or did not behave."""


def missing_tools() -> list[str]:
    """Binaries the harness needs that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def config_problem() -> str | None:
    """Why Kamailio cannot load kamailio.cfg here (a missing module package),
    or None when it can."""
    done = subprocess.run(["kamailio", "-c", "-f", str(KAMAILIO_CFG)], capture_output=True,
                          text=True, timeout=30, check=False)  # fmt: skip
    if done.returncode == 0:
        return None
    errors = [line for line in (done.stderr + done.stdout).splitlines() if "ERROR" in line]
    return "kamailio cannot load kamailio.cfg: " + " | ".join(errors[:3] or ["see kamailio -c"])


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port nobody uses right now on 127.0.0.1 (UDP by default)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def _udp_bound(port: int) -> bool:
    """Whether something listens on UDP 127.0.0.1:port (Linux /proc)."""
    wanted = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1] == wanted for line in lines if len(line.split()) > 1)


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection((LOCALHOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _sip_options_ok(port: int) -> bool:
    """Whether a SIP proxy on UDP 127.0.0.1:port answers OPTIONS with 200."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCALHOST, 0))
        s.settimeout(0.5)
        here = s.getsockname()[1]
        msg = (
            f"OPTIONS sip:{LOCALHOST}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCALHOST}:{here};branch=z9hG4bK-probe-{time.monotonic_ns()}\r\n"
            f"From: <sip:probe@{LOCALHOST}>;tag=probe\r\n"
            f"To: <sip:{LOCALHOST}:{port}>\r\n"
            f"Call-ID: probe-{time.monotonic_ns()}@{LOCALHOST}\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        try:
            s.sendto(msg.encode(), (LOCALHOST, port))
            data = s.recv(4096)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 200")


def _wait(
    what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"{what} exited with {proc.returncode}; see {log}:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.1)
    raise HarnessError(f"{what} not ready after {seconds} s; see {log}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop one process we started: SIGTERM to its pid, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


@contextmanager
def _running(
    what: str, argv: Sequence[str], log: Path, ready: Callable[[], bool],
    env: dict[str, str] | None = None,
    seconds: float = 15.0,
) -> Iterator[subprocess.Popen[bytes]]:  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait(what, ready, proc, log, seconds)
        yield proc
    finally:
        stop(proc)


@dataclass
class Proxy:
    """How Kamailio is set up for a run (defines of kamailio.cfg)."""

    callcredit_url: str
    token: str
    sip_port: int = field(default_factory=free_port)
    carrier_port: int = field(default_factory=free_port)
    quota_seconds: int = 300
    reauth_before: int = 10
    children: int = 8
    extra_defines: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        """kamailio in the foreground, logging to stderr, this run's defines."""
        defines = [
            f"SIP_LISTEN=udp:{LOCALHOST}:{self.sip_port}",
            f'CARRIER_URI="sip:{LOCALHOST}:{self.carrier_port}"',
            f'CALLCREDIT_URL="{self.callcredit_url}"',
            f'CALLCREDIT_TOKEN="{self.token}"',
            f"CALLCREDIT_QUOTA_SECONDS={self.quota_seconds}",
            f"CALLCREDIT_REAUTH_BEFORE={self.reauth_before}",
            f"SIP_CHILDREN={self.children}",
            *self.extra_defines,
        ]
        argv = ["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-m", "64", "-M", "8"]
        for d in defines:
            argv += ["-A", d]
        return argv


@contextmanager
def kamailio(proxy: Proxy, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Kamailio running with ``proxy``'s settings until the block ends."""
    with _running("kamailio", proxy.argv(), log, lambda: _sip_options_ok(proxy.sip_port)) as p:
        yield p


@contextmanager
def callee(port: int, log: Path, scenario: Path = CALLEE_XML) -> Iterator[subprocess.Popen[bytes]]:
    """The SIPp carrier stand-in on ``port`` (answers every call by default)."""
    argv = ["sipp", "-sf", str(scenario), "-i", LOCALHOST, "-p", str(port), "-nostdin",
            "-trace_err", "-error_file", str(log.with_suffix(".errors.log"))]  # fmt: skip
    with _running("sipp callee", argv, log, lambda: _udp_bound(port)) as p:
        yield p


@contextmanager
def callcredit_serve(
    port: int, log: Path, env: dict[str, str], command: Sequence[str] = ("callcredit",)
) -> Iterator[subprocess.Popen[bytes]]:
    """``callcredit serve`` on 127.0.0.1:port until the block ends."""
    argv = [*command, "serve", "--host", LOCALHOST, "--port", str(port)]
    with _running("callcredit serve", argv, log, lambda: _tcp_open(port), env=env,
                  seconds=30.0) as p:  # fmt: skip
        yield p


@dataclass
class Calls:
    """What the SIPp caller saw: one list of outcomes per SIP Call-ID."""

    returncode: int
    outcomes: dict[str, list[str]]
    log: Path

    def first(self) -> dict[str, str]:
        """The first outcome of every call (a BYE retransmission may log twice)."""
        return {cid: seen[0] for cid, seen in self.outcomes.items()}

    def count(self, prefix: str) -> int:
        """Calls whose first outcome starts with ``prefix``."""
        return sum(1 for o in self.first().values() if o.startswith(prefix))


def place_calls(
    proxy_port: int, destination: str, *, account: str, extension: str, call_ms: int,
    work: Path, calls: int = 1, concurrent: int | None = None, rate: int = 100,
    timeout: float = 120.0,
) -> Calls:  # fmt: skip
    """Place ``calls`` calls of ``call_ms`` ms through the proxy and wait for all."""
    work.mkdir(parents=True, exist_ok=True)
    stamp = time.monotonic_ns()
    log = work / f"caller-{stamp}.log"
    out = work / f"caller-{stamp}.out"
    argv = [
        "sipp", f"{LOCALHOST}:{proxy_port}", "-sf", str(CALLER_XML), "-s", destination,
        "-key", "account", account, "-key", "extension", extension,
        "-d", str(call_ms), "-m", str(calls), "-l", str(concurrent or calls), "-r", str(rate),
        "-i", LOCALHOST, "-p", str(free_port()), "-nostdin",
        "-trace_logs", "-log_file", str(log),
        "-trace_err", "-error_file", str(work / f"caller-{stamp}.errors.log"),
        "-timeout", f"{int(timeout)}s", "-timeout_error",
    ]  # fmt: skip
    with out.open("wb") as sink:
        done = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout + 10,
                              check=False)  # fmt: skip
    outcomes: dict[str, list[str]] = {}
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            cid, _, outcome = line.strip().partition(" ")
            if cid:
                outcomes.setdefault(cid, []).append(outcome.strip())
    return Calls(done.returncode, outcomes, log)


# -- command line (run.sh) ---------------------------------------------------


def _callcredit_command() -> list[str]:
    exe = shutil.which("callcredit")
    if exe is None:
        raise HarnessError("callcredit is not on PATH (pip install -e .)")
    return [exe]


def _create_token(env: dict[str, str]) -> str:
    done = subprocess.run([*_callcredit_command(), "tokens", "create", "--role", "pbx"],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise HarnessError(f"callcredit tokens create failed: {done.stderr or done.stdout}")
    return done.stdout.strip().splitlines()[-1].strip()


def main(argv: Sequence[str] | None = None) -> int:
    """run.sh: start everything, place the calls, print the outcomes, stop."""
    p = argparse.ArgumentParser(
        prog="run.sh",
        description="Place SIP calls through Kamailio asking callcredit (127.0.0.1 only).",
        epilog="Without --url, `callcredit serve` is started on the database of "
        "CALLCREDIT_DATABASE_URL, which must already hold the account and extension.",
    )
    p.add_argument("destination", help="number dialled, e.g. 00442079460000")
    p.add_argument("-a", "--account", required=True)
    p.add_argument("-e", "--extension", required=True)
    p.add_argument("-d", "--call-ms", type=int, default=3000, help="call length (ms)")
    p.add_argument("-n", "--calls", type=int, default=1)
    p.add_argument("-l", "--concurrent", type=int, default=None)
    p.add_argument("--url", help="a running callcredit (e.g. http://127.0.0.1:8000)")
    p.add_argument("--token", default=os.environ.get("CALLCREDIT_TOKEN"),
                   help="PBX token (default: $CALLCREDIT_TOKEN, else a new one)")  # fmt: skip
    p.add_argument("--http-port", type=int, default=None)
    p.add_argument("--quota", type=int, default=300, help="quota_seconds asked per grant")
    p.add_argument("--reauth-before", type=int, default=10)
    p.add_argument("--define", action="append", default=[], help="extra kamailio -A define")
    p.add_argument("--work-dir", type=Path, default=None, help="logs (default: a temp dir)")
    args = p.parse_args(argv)

    missing = missing_tools()
    if missing:
        print(f"missing: {', '.join(missing)} (see integrations/README.md)", file=sys.stderr)
        return 2
    problem = config_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="callcredit-sip-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    try:
        with ExitStack() as stack:
            url = args.url
            if url is None:
                port = args.http_port or free_port(socket.SOCK_STREAM)
                stack.enter_context(
                    callcredit_serve(port, work / "serve.log", env, _callcredit_command())
                )
                url = f"http://{LOCALHOST}:{port}"
            token = args.token or _create_token(env)
            proxy = Proxy(url, token, quota_seconds=args.quota, reauth_before=args.reauth_before,
                          extra_defines=tuple(args.define))  # fmt: skip
            stack.enter_context(callee(proxy.carrier_port, work / "callee.log"))
            stack.enter_context(kamailio(proxy, work / "kamailio.log"))
            result = place_calls(
                proxy.sip_port, args.destination, account=args.account,
                extension=args.extension, call_ms=args.call_ms, work=work, calls=args.calls,
                concurrent=args.concurrent,
            )  # fmt: skip
            time.sleep(1.0)  # let the last "end" reach callcredit before stopping
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for cid, outcome in sorted(result.first().items()):
        print(f"{cid}\t{outcome}")
    print(f"logs: {work}", file=sys.stderr)
    return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
