"""Map a Machine name to an AKS agent-pool name.

AKS Linux pool names must match ``^[a-z][a-z0-9]{0,11}$``. KAITO names its Machines
``ws`` + 9 hex characters, which already fit and are used unchanged (as upstream does, so
pools stay recognisable in the portal). Any other name is mapped deterministically to a short
prefix plus a hash, so that a retried create - even from a restarted process - lands on the
same pool and adopts it rather than making a second one.
"""

from __future__ import annotations

import hashlib
import re

POOL_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_MAX_LEN = 12
_HASH_LEN = 8


def is_valid_pool_name(name: str) -> bool:
    return POOL_NAME_PATTERN.fullmatch(name) is not None


def pool_name_for(machine_name: str) -> str:
    if is_valid_pool_name(machine_name):
        return machine_name
    cleaned = re.sub(r"[^a-z0-9]", "", machine_name.lower())
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "m" + cleaned
    digest = hashlib.sha256(machine_name.encode()).hexdigest()[:_HASH_LEN]
    return cleaned[: _MAX_LEN - _HASH_LEN] + digest
