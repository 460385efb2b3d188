"""Generated passwords live in the stack's state: used unless the config sets one, the same from any checkout."""
import shutil
import subprocess
from pathlib import Path

from components.credentials import LENGTH
from pgha.settings import PASSWORD_KEYS
from tests.deploy.conftest import CONFIGURED_PASSWORD, ROOT, generated_passwords


def test_every_password_is_generated_into_the_state_and_a_configured_one_wins(deployed):
    stack, t = deployed
    generated = generated_passwords(stack)
    assert sorted(generated) == sorted(PASSWORD_KEYS)
    assert all(len(value) == LENGTH for value in generated.values())
    assert t.password == CONFIGURED_PASSWORD[1] != generated["appPassword"]
    assert t.api_password == generated["patroniApiPassword"]
    stack_file = (ROOT / f"Pulumi.{stack}.yaml").read_text()
    assert [key for key in PASSWORD_KEYS if key in stack_file] == ["appPassword"]


def fresh_checkout(dest: Path) -> None:
    """What a clone of this tree holds once committed: every file git tracks or would track (uncommitted
    changes included, so the test checks this tree's code), nothing git ignores (venv, stack files of tests)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)


def test_a_second_checkout_previews_the_running_stack_with_no_change(deployed, tmp_path):
    """As a second clone of the repository would: its own path, no state of its own, the same backend."""
    stack, _ = deployed
    clone = tmp_path / "pgha"
    fresh_checkout(clone)
    (clone / "venv").symlink_to((ROOT / "venv").resolve())  # what setup makes in every checkout
    # A test stack's file is gitignored; in a real second clone it is committed, like Pulumi.dev.yaml.
    stack_file = f"Pulumi.{stack}.yaml"
    shutil.copy2(ROOT / stack_file, clone / stack_file)
    result = subprocess.run(["pulumi", "preview", "--expect-no-changes", "--non-interactive", "--stack", stack],
                            cwd=clone, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert (clone / stack_file).read_text() == (ROOT / stack_file).read_text(), "the preview rewrote the stack file"
