"""ballot.py: who may vote on what, decided on the server."""

from __future__ import annotations

import pytest

from searchduel.ballot import Ballot, VoterTokens
from searchduel.errors import DuplicateVote, VoteRefused
from searchduel.store import Comparison, Store


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "votes.sqlite3") as s:
        yield s


def comparison(store: Store) -> str:
    return store.save(Comparison(prompt="q", plain_answer="a", search_answer="b [1]"))


def test_a_token_verifies_only_as_the_server_signed_it():
    tokens = VoterTokens("server key")
    token = tokens.issue()
    voter = tokens.verify(token)
    assert voter and token.startswith(voter + ".")
    assert tokens.issue() != token, "each browser its own"
    forged = voter + "." + "0" * 32
    for bad in (forged, voter, "", None, 5, token + "x", "é." + token.split(".")[1], "a.b.c"):
        assert tokens.verify(bad) == "", bad
    assert VoterTokens("another key").verify(token) == "", "the key never leaves the server"


def test_an_unsigned_id_votes_as_its_session_so_minting_ids_wins_nothing(store):
    ballot = Ballot(store, VoterTokens("k"), vote_limit=0)
    cid = comparison(store)
    on_screen = {"id": cid, "left": "plain", "blind": False}
    assert ballot.voter("made-up", "sess") == ballot.voter("other-made-up", "sess")
    ballot.cast(on_screen, cid, voter=ballot.voter("made-up", "sess"), address="a", choice="tie")
    with pytest.raises(DuplicateVote):
        ballot.cast(on_screen, cid, voter=ballot.voter("x", "sess"), address="a", choice="tie")
    assert store.refusals() == {"duplicate": 1}


def test_only_the_comparison_on_screen_with_search_on_within_the_address_limit(store):
    ballot = Ballot(store, VoterTokens("k"), vote_limit=2)
    cid, other = comparison(store), comparison(store)
    screen = {"id": cid, "left": "search", "blind": True}
    with pytest.raises(VoteRefused) as refused:
        ballot.cast(screen, other, voter="v0", address="a", choice="tie")
    assert refused.value.reason == "not_shown"
    with pytest.raises(VoteRefused) as refused:
        ballot.cast({**screen, "search_off": True}, cid, voter="v0", address="a", choice="tie")
    assert refused.value.reason == "search_off"
    for n in (1, 2):
        ballot.cast(screen, cid, voter=f"v{n}", address="a", choice="search")
    with pytest.raises(VoteRefused) as refused:
        ballot.cast(screen, cid, voter="v3", address="a", choice="search")
    assert refused.value.reason == "rate_limited" and "votes" in str(refused.value)
    ballot.cast(screen, cid, voter="v3", address="b", choice="search")  # another address
    assert store.refusals() == {"not_shown": 1, "search_off": 1, "rate_limited": 1}
    assert [v.left_column for v in store.votes(cid)] == ["search"] * 3


def test_blind_only_when_the_voter_never_saw_the_sides(store):
    ballot = Ballot(store, VoterTokens("k"), vote_limit=0)
    cid = comparison(store)
    screen = {"id": cid, "left": "plain", "blind": True}
    ballot.cast(screen, cid, voter="kept-blind", address="a", choice="plain")
    ballot.reveal("peeked", cid)  # a permalink opened in a second tab before the vote
    ballot.cast(screen, cid, voter="peeked", address="a", choice="plain")
    blind = {v.blind for v in store.votes(cid)}
    assert blind == {True, False}
    assert ballot.revealed("kept-blind", cid), "voting reveals the sides"
