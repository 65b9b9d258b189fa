"""A Forecaster on disk: ``weights.pt`` (the network's state) and ``forecaster.json``.

No pickle: the JSON file carries the network's config, the window, the scalers,
the meta (with the config it was trained with) and the calibrations, each
through ``Calibration.to_dict``: ``calibration`` (the default, used for any
series without its own) and ``calibrations`` (ticker -> its own).

Older models load too (registered models live in users' stores): a model saved
before intervals has no scale head and no calibration, and gives point
forecasts only; one saved before the calibration value keeps its default in an
``intervals`` block and, for a global model, every ticker's own in
``meta["calibration"]`` (``_legacy``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline import storage
from pipeline.config import ModelConfig
from pipeline.core.calibration import Calibration
from pipeline.core.features import N_FEATURES, scaler_from_state, scaler_state
from pipeline.core.network import StockRNN
from pipeline.serving.inference import ScaledRNN

WEIGHTS = "weights.pt"
SPEC = "forecaster.json"


@dataclass(frozen=True)
class Saved:
    """What a saved Forecaster is made of (``Forecaster.load`` builds it from these)."""

    network: ScaledRNN  # the network and its scalers
    meta: dict  # run id, config, ...
    calibration: Calibration | None  # the default (None: a point-only model)
    calibrations: dict[str, Calibration]  # each ticker's own


def save(
    folder: Path,
    network: ScaledRNN,
    meta: Mapping,
    calibration: Calibration | None,
    calibrations: Mapping[str, Calibration],
) -> None:
    """Write ``weights.pt`` and ``forecaster.json`` into ``folder`` (atomically each)."""
    folder.mkdir(parents=True, exist_ok=True)
    with storage.atomic_path(folder / WEIGHTS) as tmp:
        torch.save(network.model.state_dict(), tmp)
    spec = {
        "model": dataclasses.asdict(network.model.cfg),
        "window": network.window,
        "horizon": network.horizon,
        "x_scaler": scaler_state(network.x_scaler),
        "y_scaler": scaler_state(network.y_scaler),
        "scale_trunk": "finetune" if network.model.scale_rnn is not None else "frozen",
        "meta": dict(meta),
    }
    if calibration is not None:
        spec["calibration"] = calibration.to_dict()
        spec["calibrations"] = {t: c.to_dict() for t, c in calibrations.items()}
    storage.write_text(folder / SPEC, json.dumps(spec, indent=2))


def load(folder: Path) -> Saved:
    """Read what ``save`` wrote, or an older model (weights loaded with weights_only=True)."""
    spec = json.loads((folder / SPEC).read_text())
    meta = dict(spec.get("meta", {}))
    if "intervals" in spec:  # saved before the calibration value
        intervals = spec["intervals"]
        trunk = intervals["scale_trunk"]
        calibration = _legacy(intervals)
        calibrations = {t: _legacy(b) for t, b in meta.pop("calibration", {}).items()}
    elif "calibration" in spec:
        trunk = spec["scale_trunk"]
        calibration = Calibration.from_dict(spec["calibration"])
        calibrations = {t: Calibration.from_dict(c) for t, c in spec["calibrations"].items()}
    else:  # saved before intervals: point forecasts only
        trunk, calibration, calibrations = None, None, {}
    model = StockRNN(ModelConfig(**spec["model"]), N_FEATURES, spec.get("horizon", 1))
    if trunk == "finetune":
        model.own_scale_trunk()
    state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
    # A model saved before intervals lacks only the scale head, which stays unused;
    # one saved before the range start lacks only its (off) buffers.
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("scale_base_")]
    calibrated = calibration is not None
    if unexpected or (missing and (calibrated or any("scale_" not in k for k in missing))):
        raise ValueError(f"{folder / WEIGHTS} does not match its {SPEC}")
    network = ScaledRNN(
        model, scaler_from_state(spec["x_scaler"]), scaler_from_state(spec["y_scaler"]),
        spec["window"],
    )  # fmt: skip
    return Saved(network, meta, calibration, calibrations)


def _legacy(block: Mapping) -> Calibration:
    """A calibration as older models saved it: horizon 1's ``levels``, ``lower``, ``upper``
    (and ``residuals``, since online ACI), then ``later_horizons`` (since horizons), each
    with its ``lower``, ``upper`` (and ``residuals``): ``to_dict``'s horizons, spelt apart."""
    horizons = [block, *block.get("later_horizons", [])]
    return Calibration.from_dict({"levels": block["levels"], "horizons": horizons})
