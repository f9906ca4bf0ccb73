"""Two sessions of one project never share an id (session.py): the id is every output's save version."""

from __future__ import annotations

import logging
import subprocess
import sys

from kedro.io.core import generate_timestamp

from deep_kmeans.session import UniqueVersionSession, claim_version, last_version_file


def test_an_id_claimed_before_is_not_given_again(tmp_path):
    first = claim_version(tmp_path, "2026-01-01T00.00.00.000Z")
    second = claim_version(tmp_path, "2026-01-01T00.00.00.000Z")  # a session started in the same millisecond
    assert first == "2026-01-01T00.00.00.000Z"
    assert second > first  # the first free millisecond: here, now (the clock is years past the proposed one)
    assert last_version_file(tmp_path).read_text() == second


def test_an_id_later_than_the_last_one_is_kept(tmp_path):
    claim_version(tmp_path, "2026-01-01T00.00.00.000Z")
    assert claim_version(tmp_path, "2026-01-01T00.00.00.001Z") == "2026-01-01T00.00.00.001Z"


def test_a_clock_set_back_starts_over_with_a_warning_instead_of_waiting(tmp_path, caplog):
    claim_version(tmp_path, "2999-01-01T00.00.00.000Z")
    now = generate_timestamp()
    with caplog.at_level(logging.WARNING, logger="deep_kmeans.session"):
        assert now <= claim_version(tmp_path, now) < "2999"  # from now on (the clock's now, not the last id)
    assert "The clock is behind the last run's start" in caplog.text


def test_a_stale_proposal_gets_the_clocks_now_not_an_id_given_before(tmp_path):
    """A session slow to claim (a loaded machine: CI met it) proposes an id seconds older than the last one
    claimed; it must get a fresh one, not be taken for a clock set back and handed an id given before."""
    stale = "2026-01-01T00.00.00.000Z"
    first = claim_version(tmp_path, stale)
    later = claim_version(tmp_path, generate_timestamp())  # another run claimed the clock's now meanwhile
    third = claim_version(tmp_path, stale)
    assert third not in {first, later} and third > later


def test_processes_started_together_get_distinct_ids(tmp_path):
    """Six processes propose one id at once (as six `kedro run`s that start in the same millisecond)."""
    proposed = generate_timestamp()
    code = ("import sys; from deep_kmeans.session import claim_version; "
            "print(claim_version(sys.argv[1], sys.argv[2]))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), proposed], stdout=subprocess.PIPE,
                              text=True) for _ in range(6)]
    ids = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(ids)) == 6 and proposed in ids
    assert last_version_file(tmp_path).read_text() == max(ids)


def test_the_project_session_claims_its_id(tmp_path, monkeypatch):
    """Kedro's `create` with a clock stuck on one millisecond still gives two sessions two ids."""
    import kedro.framework.session.session as kedro_session

    from deep_kmeans import settings

    assert settings.SESSION_CLASS is UniqueVersionSession
    monkeypatch.setattr(kedro_session, "generate_timestamp", lambda: "2026-01-01T00.00.00.000Z")
    monkeypatch.setattr(kedro_session, "validate_settings", lambda: None)
    ids = []
    for _ in range(2):
        session = UniqueVersionSession.create(project_path=tmp_path, save_on_close=False)
        ids.append(session.session_id)
        session.close()
    assert ids[0] == "2026-01-01T00.00.00.000Z" and ids[1] > ids[0]
