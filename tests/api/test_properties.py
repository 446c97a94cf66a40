"""Property tests: the guards never crash on odd input, and quantities parse like Kubernetes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaito.api import parse_quantity, quantity_bytes
from kaito.api.quantity import QuantityError
from kaito.webhook.tuning_config import check_training_config
from kaito.webhook.urls import check_url


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_check_url_never_raises(text: str) -> None:
    result = check_url(text)
    assert result is None or isinstance(result, str)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\Ahttps?://[a-z0-9.:\[\]@-]{1,40}/[a-z]{0,5}\Z"))
def test_check_url_on_url_like_text(text: str) -> None:
    result = check_url(text)
    assert result is None or text in result or repr(text) in result


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_training_config_never_raises(text: str) -> None:
    for method in ("lora", "qlora"):
        problems = check_training_config({"training_config.yaml": text}, method)
        assert all(p.startswith("tuning.config") for p in problems)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**50), st.sampled_from(["", "Ki", "Mi", "Gi", "k", "M", "G"]))
def test_quantity_scales(number: int, suffix: str) -> None:
    scale = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}[suffix]
    assert parse_quantity(f"{number}{suffix}") == Decimal(number * scale)


def test_quantity_forms() -> None:
    assert quantity_bytes("16Gi") == 16 * 2**30
    assert parse_quantity("500m") == Decimal("0.5")
    assert parse_quantity("1e3") == Decimal(1000)
    assert quantity_bytes("1.5Ki") == 1536
    assert quantity_bytes("0.5") == 1
    for bad in ("", "Gi", "1.2.3", "12Gb", "abc"):
        with pytest.raises(QuantityError):
            parse_quantity(bad)


_names = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}[a-z0-9]\Z")
_labels = st.dictionaries(_names, _names, min_size=1, max_size=3)
_source = st.one_of(
    st.builds(
        lambda u: {"urls": u}, st.lists(st.just("https://example.com/d.parquet"), min_size=1, max_size=3)
    ),
    st.builds(lambda n: {"image": f"acr.io/{n}:1"}, _names),
    st.just({"volumeSource": {"persistentVolumeClaim": {"claimName": "data"}}}),
)
_inference = st.builds(
    lambda preset, adapters, config: {
        "preset": {"name": preset},
        **({"adapters": adapters} if adapters else {}),
        **({"config": config} if config else {}),
    },
    _names,
    st.lists(
        st.builds(
            lambda n, s: {"source": {"name": n, "image": f"acr.io/{n}:1"}, "strength": s},
            _names,
            st.just("0.5"),
        ),
        max_size=3,
    ),
    st.one_of(st.none(), _names),
)
_tuning = st.builds(
    lambda preset, method, source, out: {
        "preset": {"name": preset, "accessMode": "public"},
        "method": method,
        "input": source,
        "output": out,
    },
    _names,
    st.sampled_from(["lora", "qlora"]),
    _source,
    st.one_of(
        st.just({"image": "acr.io/out:1", "imagePushSecret": "s"}),
        st.just({"volumeSource": {"emptyDir": {}}}),
    ),
)
_workspace = st.builds(
    lambda name, count, labels, body: {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": "default"},
        "resource": {
            "count": count,
            "instanceType": "Standard_NC6s_v3",
            "labelSelector": {"matchLabels": labels},
        },
        **body,
    },
    _names,
    st.integers(min_value=1, max_value=5),
    _labels,
    st.one_of(st.builds(lambda i: {"inference": i}, _inference), st.builds(lambda t: {"tuning": t}, _tuning)),
)


@settings(max_examples=150, deadline=None)
@given(_workspace)
def test_workspace_round_trip(raw: dict[str, object]) -> None:
    from kaito.api import Workspace

    ws = Workspace.model_validate(raw)
    out = ws.to_dict()
    # Defaults the schema would also apply are the only additions.
    if "inference" in raw:
        out["inference"]["preset"].pop("accessMode")
    assert out == raw
    assert Workspace.model_validate(ws.to_dict()) == ws
