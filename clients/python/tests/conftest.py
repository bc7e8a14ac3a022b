"""A real vault for the whole session: the compiled CLI (`node dist/src/cli/bin.js serve`) on a free
port with a data directory of its own, seeded through the HTTP API as a deployment would be.

The store is the embedded database, or PostgreSQL when ``VAULT_DATABASE_URL`` is set: then the
session gets a scratch database on that server (migrated first, dropped at the end), so nothing
lands in a database anyone else uses. ``dist/`` must be compiled first (`npx tsc -p tsconfig.json`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from activity_vault import Lease, TokenSource, VaultClient

REPO = Path(__file__).resolve().parents[3]
CLI = REPO / "dist" / "src" / "cli" / "bin.js"

TEAM = "team-autocomplete"
PURPOSE = "autocomplete-model"
JOB = "py-client-trainer"
ENGINEERS = [f"py-eng-{i}" for i in range(8)]
# Other units keep the engineers under the vault's 0.2 ceiling of enrolled employees per decision.
OTHERS = [(f"py-emp-{i}", ("sales", "design", "support", "finance")[i % 4]) for i in range(40)]
RECORDS_PER_ENGINEER = 40


@dataclass
class Vault:
    url: str
    env: dict[str, str]
    data_dir: Path
    window: tuple[str, str]
    #: The payload text of every keystroke record seeded in `engineering`, the dataset's content.
    seeded_texts: list[str] = field(default_factory=list)
    _tokens: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def token(self, role: str, sub: str | None = None, *, team: str | None = None, purpose: str | None = None) -> str:
        """A token signed with the vault's development key (`token mint`), cached per claims."""
        key = (role, sub or f"py-{role}", team or "")
        if key not in self._tokens:
            args = ["token", "mint", "--role", role, "--sub", key[1], "--ttl", "3600"]
            if team:
                args += ["--team", team]
            if purpose:
                args += ["--purpose", purpose]
            self._tokens[key] = self.cli(*args).strip()
        return self._tokens[key]

    def job_token(self, sub: str = JOB) -> str:
        return self.token("training-job", sub, team=TEAM, purpose=PURPOSE)

    def cli(self, *args: str) -> str:
        done = subprocess.run(["node", str(CLI), *args], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"activity-vault {' '.join(args[:2])} exited {done.returncode}: {done.stderr[-2000:]}")
        return done.stdout

    def client(self, token: TokenSource | None = None, *, url: str | None = None, max_retries: int = 5, retry_delay: float = 0.2) -> VaultClient:
        """A client of the training job (or of `token`), to the vault or to a proxy before it (`url`)."""
        return VaultClient(url or self.url, token or self.job_token(), max_retries=max_retries, retry_delay=retry_delay)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wait_listening(log: Path, process: subprocess.Popen[bytes], seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = re.search(r"Server listening at (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"the vault exited {process.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"the vault did not listen within {seconds} s:\n{log.read_text(errors='replace')[-4000:]}")


def _seed(vault: Vault) -> None:
    officer = {"authorization": f"Bearer {vault.token('privacy-officer')}"}
    agent = {"authorization": f"Bearer {vault.token('ingest-agent')}"}
    roster = [{"employee_id": e, "org_unit": "engineering"} for e in ENGINEERS] + [{"employee_id": e, "org_unit": u} for e, u in OTHERS]
    employees = [{**e, "region": "eu-west", "enrolled": True} for e in roster]
    with httpx.Client(base_url=vault.url, timeout=60) as http:
        answer = http.put("/v1/employees", json={"employees": employees}, headers=officer)
        assert answer.status_code == 200, answer.text
        start = datetime.now(timezone.utc) - timedelta(days=2)
        records = []
        for n, engineer in enumerate(ENGINEERS):
            for k in range(RECORDS_PER_ENGINEER):
                # Texts of different lengths, so a connection cut after a fixed byte count lands
                # at a different place in a line each time.
                text = f"refactor {engineer} step {k} " + "x" * ((n * 37 + k * 11) % 160)
                vault.seeded_texts.append(text)
                records.append(
                    {
                        "event_id": str(uuid.uuid4()),
                        "employee_id": engineer,
                        "captured_at": _iso(start + timedelta(seconds=n * 600 + k * 7)),
                        "kind": "keystroke",
                        "payload": {"window": "editor", "text": text},
                    }
                )
        # Records the dataset must not contain: other units, another kind.
        for n, (employee, _) in enumerate(OTHERS):
            records.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "employee_id": employee,
                    "captured_at": _iso(start + timedelta(seconds=n)),
                    "kind": "keystroke",
                    "payload": {"window": "editor", "text": f"not in the dataset {n}"},
                }
            )
        records.append(
            {
                "event_id": str(uuid.uuid4()),
                "employee_id": ENGINEERS[0],
                "captured_at": _iso(start + timedelta(seconds=5)),
                "kind": "click",
                "payload": {"x": 1, "y": 2},
            }
        )
        answer = http.post("/v1/records", json={"records": records}, headers=agent)
        assert answer.status_code == 200, answer.text
        ingested = answer.json()
        assert ingested["accepted"] == len(records), ingested


@pytest.fixture(scope="session")
def vault() -> Iterator[Vault]:
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: compile the vault first (npx tsc -p tsconfig.json in {REPO})")
    work = Path(tempfile.mkdtemp(prefix="vault-pytest-"))
    # Only what the vault is told here: an operator's own VAULT_* settings must not change the run.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(work)), "VAULT_DATA_DIR": str(work / "data"), "VAULT_HOST": "127.0.0.1", "VAULT_PORT": "0", "VAULT_LOG_LEVEL": "info"}
    server_url = os.environ.get("VAULT_DATABASE_URL")
    scratch = None
    process = None
    try:
        if server_url:
            scratch = subprocess.run(["node", "scripts/fuzz-db.mjs", "create", server_url], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
            env["VAULT_DATABASE_URL"] = scratch
            subprocess.run(["node", str(CLI), "migrate"], env=env, cwd=REPO, capture_output=True, check=True, timeout=300)
        log = work / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(["node", str(CLI), "serve"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        url = _wait_listening(log, process)
        now = datetime.now(timezone.utc)
        the_vault = Vault(url=url, env=env, data_dir=work / "data", window=(_iso(now - timedelta(days=7)), _iso(now)))
        _seed(the_vault)
        yield the_vault
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if scratch and server_url:
            subprocess.run(["node", "scripts/fuzz-db.mjs", "drop", server_url, scratch], cwd=REPO, capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def lease(vault: Vault) -> Lease:
    """The dataset every streaming test reads: the engineers' keystrokes, granted to the job."""
    with vault.client() as client:
        return client.request_dataset(PURPOSE, ["keystroke"], ["engineering"], vault.window[0], vault.window[1])


@pytest.fixture(scope="session")
def full_stream(vault: Vault, lease: Lease) -> list[dict[str, object]]:
    """The dataset read once without interruption: what every other read is compared with."""
    with vault.client() as client:
        return [r.to_dict() for r in client.records(lease.dataset_id)]


class CuttingProxy:
    """A TCP proxy to the vault that cuts each connection once `cut_after` bytes of the answer passed.

    The cut falls wherever the byte count says: inside HTTP headers, a chunk header or a record.
    `connections` counts the connections the client opened.
    """

    def __init__(self, upstream: str, cut_after: int | None) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self._upstream = (host, int(port))
        self.cut_after = cut_after
        self.connections = 0
        self.cuts = 0
        #: Requests sent and the statuses answered, as seen on the wire.
        self.requests = 0
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self._upstream)
        with self._lock:
            self._open += [client, upstream]

        def to_upstream() -> None:
            try:
                while chunk := client.recv(65536):
                    with self._lock:
                        self.requests += len(re.findall(rb"(?:^|\r\n\r\n)(?:GET|POST|PUT|DELETE) /", chunk))
                    upstream.sendall(chunk)
            except OSError:
                pass
            finally:
                _shut(upstream)

        threading.Thread(target=to_upstream, daemon=True).start()
        passed = 0
        try:
            while chunk := upstream.recv(65536):
                with self._lock:
                    self.statuses += [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", chunk)]
                if self.cut_after is not None and passed + len(chunk) >= self.cut_after:
                    client.sendall(chunk[: self.cut_after - passed])
                    with self._lock:
                        self.cuts += 1
                    break
                client.sendall(chunk)
                passed += len(chunk)
        except OSError:
            pass
        finally:
            _shut(client)
            _shut(upstream)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for s in self._open:
                _shut(s)


def _shut(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


@pytest.fixture
def proxy(vault: Vault) -> Iterator[Callable[[int | None], CuttingProxy]]:
    """Makes proxies to the session's vault (`proxy(cut_after)`), closed after the test."""
    made: list[CuttingProxy] = []

    def make(cut_after: int | None) -> CuttingProxy:
        made.append(CuttingProxy(vault.url, cut_after))
        return made[-1]

    yield make
    for p in made:
        p.close()


def texts(records: list[dict[str, object]]) -> list[str]:
    return [str(r["payload"]["text"]) for r in records]  # type: ignore[index]


def as_json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def content(records: list[dict[str, object]]) -> Counter[str]:
    """The records without their cursors, which belong to one shard: parts compare with the whole by the rest."""
    return Counter(as_json({k: v for k, v in r.items() if k != "cursor"}) for r in records)
