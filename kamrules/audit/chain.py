"""The hashes that make the log tamper-evident: the canonical text, chain links, Merkle roots and keyed MACs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any, Protocol

try:  # CPython's own SHA-256 (no OpenSSL): module _sha2 from 3.12, _sha256 before
    from _sha2 import sha256 as _builtin_sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from _sha256 import sha256 as _builtin_sha256  # type: ignore[import-not-found,no-redef,unused-ignore]

from kamrules.errors import InvalidInput, Span

GENESIS = "0" * 64
KEY_VAR = "KAMRULES_AUDIT_KEY"
# A key shorter than this is a password, not a secret: HMAC-SHA256 keys should carry at least 128 bits.
MIN_KEY_BYTES = 16
# Data this long or longer is hashed by OpenSSL, about three times faster than CPython's own on megabytes (a
# portfolio's blocks). Shorter data (one evaluation's record, a link) is hashed without loading OpenSSL,
# which costs a recorded `kamrules evaluate` 2-3 ms of start-up; the digests are the same.
_OPENSSL_FROM = 64 * 1024


def canonical(data: Any) -> str:
    """The one JSON text a record is hashed and stored as."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _Hash(Protocol):
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


def _sha256(data: bytes) -> _Hash:
    if len(data) < _OPENSSL_FROM:
        return _builtin_sha256(data)  # type: ignore[no-any-return]
    import hashlib

    return hashlib.sha256(data)


def sha256(text: str | bytes) -> str:
    """The SHA-256 of a text (UTF-8) or bytes, as hex."""
    return _sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


def chain_hash(prev_hash: str, record: str, decision_id: str, recorded_at: str, seq: int) -> str:
    """A version-2 record's link: sha256(prev_hash + record + decision_id + recorded_at + seq), joined by U+001F."""
    return sha256("\x1f".join([prev_hash, record, decision_id, recorded_at, str(seq)]))


def link_hash(prev_hash: str, header: str, seq: int) -> str:
    """A block's link: sha256(prev_hash + header + seq), joined by U+001F; the header holds its Merkle root."""
    return sha256("\x1f".join([prev_hash, header, str(seq)]))


def merkle_root(leaves: Iterable[str]) -> str:
    """The Merkle root of hex leaf hashes (RFC 6962 style: 0x00 leaf prefix, 0x01 node prefix, odd node promoted)."""
    level: list[bytes] = [_builtin_sha256(b"\x00" + bytes.fromhex(h)).digest() for h in leaves]
    if not level:
        return GENESIS
    while len(level) > 1:
        pairs = [_builtin_sha256(b"\x01" + a + b).digest() for a, b in zip(level[::2], level[1::2], strict=False)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0].hex()


def audit_key() -> bytes | None:
    """The secret of keyed records, from $KAMRULES_AUDIT_KEY (None when unset); exit 3 if too short."""
    text = os.environ.get(KEY_VAR)
    if not text:
        return None
    key = text.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise InvalidInput.at(
            Span(f"${KEY_VAR}"),
            "the audit key is too short",
            expected=f"at least {MIN_KEY_BYTES} bytes of secret",
            found=f"{len(key)} byte(s)",
            help="generate one with: python3 -c 'import secrets; print(secrets.token_hex(32))'",
            code="audit",
        )
    return key


def key_id(key: bytes) -> str:
    """A short public name of a key, stored beside each MAC so verify can say which key a record needs."""
    import hashlib
    import hmac  # both load OpenSSL: only for a keyed log

    return hmac.new(key, b"kamrules audit key id", hashlib.sha256).hexdigest()[:12]


def mac(key: bytes, link: str) -> str:
    """HMAC-SHA256 of a block's link hash: without the key no one can make a valid one."""
    import hashlib
    import hmac

    return hmac.new(key, link.encode("ascii"), hashlib.sha256).hexdigest()


def mac_ok(key: bytes, link: str, value: str | None) -> bool:
    """Whether ``value`` is the MAC of ``link`` under ``key`` (constant-time comparison)."""
    import hmac

    return value is not None and hmac.compare_digest(mac(key, link), value)
