"""Link tokens: round trip, and any altered character (even the lenient last base64 one) is refused."""

import string
from datetime import date, timedelta

from campaign.delivery.tokens import Tokens


def test_round_trip_and_every_single_character_change_is_refused():
    tokens = Tokens("k" * 32)
    for subscriber_id in (1, 42, 123456):
        token = tokens.unsubscribe(subscriber_id)
        assert tokens.read_unsubscribe(token) == subscriber_id
        alphabet = string.ascii_letters + string.digits + "-_"
        for i, ch in enumerate(token):
            if ch == ".":
                continue
            other = alphabet[(alphabet.index(ch) + 1) % len(alphabet)]
            assert tokens.read_unsubscribe(token[:i] + other + token[i + 1 :]) is None, (token, i)


def test_tokens_are_bound_to_their_key_and_purpose():
    a, b = Tokens("a" * 32), Tokens("b" * 32)
    assert b.read_unsubscribe(a.unsubscribe(7)) is None
    assert a.read_confirm(a.unsubscribe(7)) is None  # an unsubscribe token cannot confirm
    assert a.read_unsubscribe(a.confirm(7)) is None
    assert a.read_confirm(a.confirm(7)) == 7
    assert a.read_confirm(a.confirm(7), max_age=-1) is None  # expired
    assert a.read_unsubscribe("") is None and a.read_unsubscribe("x" * 400) is None


def test_the_fast_unsubscribe_signer_matches_itsdangerous():
    from itsdangerous import URLSafeSerializer

    tokens = Tokens("secret" * 6)
    reference = URLSafeSerializer("secret" * 6, salt="campaign.unsubscribe")
    for subscriber_id in (0, 1, 99, 12345, 10**9):
        assert tokens.unsubscribe(subscriber_id) == reference.dumps(subscriber_id)


def test_a_correctly_signed_token_with_an_id_out_of_range_is_refused():
    from itsdangerous import URLSafeSerializer

    tokens = Tokens("k" * 32)
    today = date(2027, 9, 5)
    for value in (2**63, 2**31, -1, True, "7", 1.5):
        assert tokens.read_unsubscribe(URLSafeSerializer("k" * 32, salt="campaign.unsubscribe").dumps(value)) is None
        forged = URLSafeSerializer("k" * 32, salt="campaign.preferences").dumps([value, today.toordinal()])
        assert tokens.read_preferences(forged, today=today) is None
    for shape in (7, [7], [7, "x"], [7, today.toordinal(), 1], {"id": 7}):
        forged = URLSafeSerializer("k" * 32, salt="campaign.preferences").dumps(shape)
        assert tokens.read_preferences(forged, today=today) is None
    assert tokens.read_preferences(tokens.preferences(2**31 - 1, today), today=today) == 2**31 - 1


def test_preferences_and_export_tokens_have_their_own_purpose_and_expire():
    tokens = Tokens("k" * 32)
    day = date(2027, 9, 5)
    token = tokens.preferences(9, day)
    assert token == tokens.preferences(9, day)  # deterministic: a resent batch carries the same bytes
    assert tokens.read_preferences(token, today=day) == 9
    assert tokens.read_preferences(token, today=day + timedelta(days=180)) == 9
    assert tokens.read_preferences(token, today=day + timedelta(days=181)) is None  # expired
    assert tokens.read_preferences(token, today=day - timedelta(days=400)) == 9  # a rehearsal sends ahead
    assert tokens.read_preferences(tokens.unsubscribe(9), today=day) is None
    assert tokens.read_unsubscribe(token) is None
    assert tokens.read_export(token) is None
    assert tokens.read_preferences(tokens.export(9), today=day) is None
    assert tokens.read_export(tokens.export(9)) == 9
    assert tokens.read_export(tokens.export(9), max_age=-1) is None


def test_the_fast_preferences_signer_matches_itsdangerous():
    from itsdangerous import URLSafeSerializer

    tokens = Tokens("secret" * 6)
    reference = URLSafeSerializer("secret" * 6, salt="campaign.preferences")
    assert tokens._sign_prefs == tokens._fast_preferences  # the fast path is in use
    for subscriber_id, day in ((1, date(2027, 9, 1)), (99, date(2027, 9, 30)), (10**9, date(2028, 1, 1))):
        assert tokens.preferences(subscriber_id, day) == reference.dumps([subscriber_id, day.toordinal()])
