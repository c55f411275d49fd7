"""groups.toml: server-side groups by certificate name."""

from pathlib import Path

import pytest

from holdfire.adapters.net.groups import ANONYMOUS, GroupsError, load_groups


def test_without_a_file_everyone_is_anonymous(tmp_path: Path) -> None:
    policy = load_groups(tmp_path)
    assert policy.groups_for(None) == {ANONYMOUS}
    assert policy.groups_for("alpha") == {ANONYMOUS}


def test_listed_certificates_get_their_groups(tmp_path: Path) -> None:
    (tmp_path / "groups.toml").write_text(
        '[clients]\nalpha = ["blue", "fires"]\n[default]\ngroups = ["guests"]\n'
    )
    policy = load_groups(tmp_path)
    assert policy.groups_for("alpha") == {"blue", "fires"}
    assert policy.groups_for("bravo") == {"guests"}
    assert policy.groups_for(None) == {"guests"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[clients]\nalpha = []\n", "clients.alpha"),
        ('[clients]\nalpha = "blue"\n', "clients.alpha"),
        ('[clients]\nalpha = [""]\n', "non-empty"),
        ('[others]\nx = ["a"]\n', "unknown section"),
        ('[default]\ngroup = ["a"]\n', "[default]"),
        ("[clients\n", "not readable"),
    ],
)
def test_a_bad_file_names_the_problem(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "groups.toml").write_text(text)
    with pytest.raises(GroupsError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_groups(tmp_path)
