"""The drill's rolling image update raises the stack's node image revision in a copy of its configuration."""

import yaml

from pgha.ops.drills import image_update

STACK_FILE = """config:
  pgha:rwPort: "15432"
  pgha:appPassword:
    secure: v1:abc:def
encryptionsalt: v1:salt:xyz
"""


def test_the_revision_is_raised_in_a_copy_that_keeps_every_other_setting(tmp_path):
    source, copy = tmp_path / "Pulumi.s.yaml", tmp_path / "copy.yaml"
    source.write_text(STACK_FILE)
    assert image_update.with_next_revision(source, copy) == 1
    document = yaml.safe_load(copy.read_text())
    assert document["config"] == {
        "pgha:rwPort": "15432",
        "pgha:appPassword": {"secure": "v1:abc:def"},
        "pgha:nodeImageRevision": "1",
    }
    assert document["encryptionsalt"] == "v1:salt:xyz"
    assert source.read_text() == STACK_FILE
    assert image_update.with_next_revision(copy, tmp_path / "again.yaml") == 2


def test_a_stack_file_without_settings_starts_from_revision_zero(tmp_path):
    source = tmp_path / "Pulumi.s.yaml"
    source.write_text("config: {}\n")
    assert image_update.with_next_revision(source, tmp_path / "copy.yaml") == 1
