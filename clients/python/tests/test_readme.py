"""The README's runnable examples, run as a user would: a script with VAULT_URL and VAULT_TOKEN set."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


from conftest import ENGINEERS, RECORDS_PER_ENGINEER, Vault

README = Path(__file__).resolve().parents[1] / "README.md"
EXPECTED = len(ENGINEERS) * RECORDS_PER_ENGINEER


def _examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    runnable = [b for b in blocks if 'os.environ["VAULT_URL"]' in b]
    assert len(runnable) == 2, "the quick start and the training loop"
    return runnable


def _run(vault: Vault, code: str, tmp_path: Path) -> str:
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {**os.environ, "VAULT_URL": vault.url, "VAULT_TOKEN": vault.job_token("py-readme-job")}
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_quick_start_streams_the_granted_dataset(vault: Vault, tmp_path: Path) -> None:
    out = _run(vault, _examples()[0], tmp_path).splitlines()
    assert re.match(rf"dataset [0-9a-f-]{{36}}: {EXPECTED} records, scope Scope\(org_units=\('engineering',\)", out[0])
    assert len(out) == 1 + EXPECTED
    assert all("'window': 'editor'" in line and " keystroke " in line for line in out[1:])


def test_the_training_loop_trains_on_every_record_each_epoch(vault: Vault, tmp_path: Path) -> None:
    out = _run(vault, _examples()[1], tmp_path)
    for epoch in (0, 1):
        assert re.search(rf"^epoch {epoch}: {EXPECTED} of {EXPECTED} records, loss \d+\.\d+$", out, flags=re.M), out
