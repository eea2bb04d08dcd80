"""Self-certifying cluster ids: the check accepts exactly what the volunteer's key signs."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schema.signature import (
    HEADER,
    ID_LENGTH,
    ID_PREFIX,
    ClusterKey,
    SignatureRefusedError,
    cluster_id_for_key,
    parse_header,
    verify_report,
)

KEY = ClusterKey("6f0d3a52-9c1e-4b7a-8d2f-1e5c7b9a4d30")
OTHER = ClusterKey("another-cluster-uid")


def _refusal(cluster_id: str, header: str | None, body: bytes) -> SignatureRefusedError:
    with pytest.raises(SignatureRefusedError) as excinfo:
        verify_report(cluster_id, header, body)
    return excinfo.value


@given(body=st.binary(max_size=2048))
def test_what_the_key_signs_is_verified(body: bytes) -> None:
    assert verify_report(KEY.cluster_id, KEY.header(body), body) is True


@given(body=st.binary(max_size=512), other=st.binary(max_size=512))
def test_the_header_of_one_body_is_refused_on_any_other(body: bytes, other: bytes) -> None:
    if other == body:
        return
    assert _refusal(KEY.cluster_id, KEY.header(body), other).status == 403


@given(body=st.binary(max_size=256), index=st.integers(min_value=0, max_value=63), bit=st.integers(0, 7))
def test_a_signature_changed_in_any_bit_is_refused(body: bytes, index: int, bit: int) -> None:
    parsed = parse_header(KEY.header(body))
    signature = bytearray(parsed.signature)
    signature[index] ^= 1 << bit
    forged = f"ed25519={_b64(parsed.public_key)}; sig={_b64(bytes(signature))}"

    assert _refusal(KEY.cluster_id, forged, body).status == 403


@given(uid=st.text(min_size=1, max_size=60))
def test_every_uid_gives_a_self_certifying_id_that_its_own_key_proves(uid: str) -> None:
    key = ClusterKey(uid)

    assert key.cluster_id.startswith(ID_PREFIX)
    assert len(key.cluster_id) == ID_LENGTH
    assert cluster_id_for_key(key.public_key) == key.cluster_id
    assert verify_report(key.cluster_id, key.header(b"{}"), b"{}") is True


def test_another_key_cannot_sign_for_the_id() -> None:
    refusal = _refusal(KEY.cluster_id, OTHER.header(b"{}"), b"{}")

    assert refusal.status == 403
    assert "not the key this cluster id was derived from" in refusal.reason


def test_an_unsigned_report_of_a_self_certifying_id_is_refused() -> None:
    refusal = _refusal(KEY.cluster_id, None, b"{}")

    assert refusal.status == 401
    assert "must be signed" in refusal.reason


def test_unsigned_reports_of_other_ids_are_accepted_unverified() -> None:
    assert verify_report("2f9c93d3-0000-4000-8000-000000000000", None, b"{}") is False


def test_a_signature_on_an_id_not_derived_from_a_key_is_refused() -> None:
    assert _refusal("plain-id", KEY.header(b"{}"), b"{}").status == 400


@pytest.mark.parametrize(
    "header",
    ["", "ed25519=abc", "sig=abc", "ed25519=AAAA; sig=AAAA", "ed25519=!!; sig=!!", "x" * 1000, "ed25519=a; ed25519=b"],
)
def test_a_malformed_header_is_a_400_that_names_it(header: str) -> None:
    refusal = _refusal(KEY.cluster_id, header, b"{}")

    assert refusal.status == 400
    assert HEADER in refusal.reason


def test_the_key_never_shows_in_its_repr() -> None:
    shown = repr(KEY) + str(KEY)

    assert KEY.cluster_id in shown
    assert "private" not in shown.lower()
    assert _b64(KEY.public_key) not in shown


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
