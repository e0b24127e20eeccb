"""Instrument definitions: scoring rules read from the TOML files in `instruments/`.

Everything downstream (the scoring SQL, the validation suites, the indicator list) is driven by the
tables this module derives, so adding an instrument means adding a definition file only.

A definition file holds `id`, `name`, `title`, `credit`, `licence`, `url` and `recall`; its items,
either numbered (`item_count` items `<id>_1`...) sharing `[answers] options`, or listed as
`[[items]]` with their own `id`, `label` and `options` (`code`, scoring `value`, `label`); and its
`[[scales]]`: `items` and `reversed` (numbers or ids), `method` ("sum": prorated as the mean of the
answered items x the item count; "mean"; "0-100": the mean with each item rescaled so that its
lowest value counts 0 and its highest 100), `min_answered`, `risk_when` ("high" or "low": which end
is unfavourable) and ascending `bands` (`id`, `lower`, `lower_inclusive`). A listed item may carry
`group_by` (its answers define a reporting cut, such as "role") or `exposure_bands` (`id`, `label`,
`codes`: the indicators are broken down by them).

Numbered items asked on another answer scale list it under `[[answers.item_options]]` (`items`,
`options`). An option may carry `also`: other spellings of its label that survey tools write
("Almost never"). `missing_answers` lists the answers that mean "not answered" (default
`DEFAULT_MISSING_ANSWERS`): they count as unanswered items, never as bad rows. An option's own
label wins over a missing answer of the same spelling (a "Not applicable" option stays an answer).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DEFINITIONS_DIR = Path(__file__).resolve().parent.parent / "instruments"
SCORE_METHODS = ("sum", "mean", "0-100")
# Reporting cuts the pipeline builds itself; an item's `group_by` may not reuse their names.
RESERVED_GROUP_TYPES = frozenset({"organization", "team", "parent_unit", "service_line"})
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
# Answers that survey tools and organizations write for "not answered": explicit options,
# Qualtrics' seen-but-unanswered recode (-99), common negative missing-data codes, REDCap's
# project-level missing-data codes (unknown, not asked, asked but unknown, not applicable), and
# blanks.
DEFAULT_MISSING_ANSWERS = (
    "",
    "Prefer not to answer",
    "Prefer not to say",
    "Not applicable",
    "N/A",
    "Don't know",
    "Don’t know",
    "-99",
    "-77",
    "-88",
    "UNK",
    "NASK",
    "ASKU",
    "NA",
)


class DefinitionError(ValueError):
    """An instrument definition file is inconsistent."""


@dataclass(frozen=True)
class AnswerOption:
    code: int
    value: float
    label: str
    also: tuple[str, ...] = ()
    """Other spellings of the label that survey tools write."""

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.label, *self.also)


@dataclass(frozen=True)
class ExposureBand:
    """Answer codes reported together when an item is analysed as an exposure."""

    id: str
    label: str
    codes: tuple[int, ...]


@dataclass(frozen=True)
class Item:
    id: str
    instrument: str
    label: str
    options: tuple[AnswerOption, ...]
    group_by: str | None = None
    """Answers to this item define a reporting cut of that name (e.g. "role")."""
    exposure_bands: tuple[ExposureBand, ...] = ()
    """Non-empty when the item is an exposure the indicators are broken down by."""
    missing_answers: tuple[str, ...] = DEFAULT_MISSING_ANSWERS
    """Answers that mean "not answered"."""

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(option.code for option in self.options)

    @property
    def value_range(self) -> tuple[float, float]:
        values = [option.value for option in self.options]
        return min(values), max(values)


@dataclass(frozen=True)
class Band:
    id: str
    lower: float
    lower_inclusive: bool


@dataclass(frozen=True)
class Scale:
    instrument: str
    id: str
    name: str
    item_ids: tuple[str, ...]
    reversed_item_ids: tuple[str, ...]
    method: Literal["sum", "mean", "0-100"]
    min_answered: int
    risk_when: Literal["high", "low"]
    bands: tuple[Band, ...]

    @property
    def indicator(self) -> str:
        return f"{self.instrument}_{self.id}"


@dataclass(frozen=True)
class Instrument:
    id: str
    name: str
    title: str
    credit: str
    licence: str
    url: str
    recall: str
    items: tuple[Item, ...]
    scales: tuple[Scale, ...]


def item_score_map(scale: Scale, item: Item) -> tuple[float, float]:
    """The item's contribution to the scale as `offset + weight * answer value`.

    Reversed items are mirrored within the item's value range (6 - x on 1-5, 100 - x on 0-100);
    on a 0-100 scale every item is first rescaled so that its lowest value counts 0 and its
    highest 100. Scoring and reliability both read this one map.
    """
    low, high = item.value_range
    is_reversed = item.id in scale.reversed_item_ids
    if scale.method == "0-100":
        stretch = 100 / (high - low)
        return ((high if is_reversed else -low) * stretch, -stretch if is_reversed else stretch)
    return (high + low, -1.0) if is_reversed else (0.0, 1.0)


def score_range(scale: Scale, items: dict[str, Item]) -> tuple[float, float]:
    """The lowest and highest score the scale can give."""
    if scale.method == "0-100":
        return 0.0, 100.0
    lows, highs = zip(*(items[item_id].value_range for item_id in scale.item_ids), strict=True)
    if scale.method == "sum":
        return float(sum(lows)), float(sum(highs))
    return float(min(lows)), float(max(highs))


@dataclass(frozen=True)
class Registry:
    instruments: tuple[Instrument, ...]

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(item for instrument in self.instruments for item in instrument.items)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)

    @property
    def scales(self) -> tuple[Scale, ...]:
        return tuple(scale for instrument in self.instruments for scale in instrument.scales)

    def instrument(self, instrument_id: str) -> Instrument:
        for instrument in self.instruments:
            if instrument.id == instrument_id:
                return instrument
        raise KeyError(instrument_id)

    def require_indicators(self, indicators: Iterable[str]) -> None:
        """Fail with the unknown ids named when a setting lists an indicator no scale defines."""
        known = {scale.indicator for scale in self.scales}
        unknown = sorted(set(indicators) - known)
        if unknown:
            raise DefinitionError(
                f"unknown indicator {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )

    def item_rows(self) -> list[dict[str, object]]:
        """One row per item: the `item_definitions` seed table."""
        return [
            {
                "item_id": item.id,
                "instrument_id": item.instrument,
                "label": item.label,
                "value_min": item.value_range[0],
                "value_max": item.value_range[1],
                "group_by": item.group_by,
            }
            for item in self.items
        ]

    def answer_option_rows(self) -> list[dict[str, object]]:
        """One row per item per answer option: the `answer_options` seed table."""
        return [
            {
                "item_id": item.id,
                "code": option.code,
                "value": option.value,
                "label": option.label,
                "label_key": normalize_label(option.label),
            }
            for item in self.items
            for option in item.options
        ]

    def scale_item_rows(self) -> list[dict[str, object]]:
        """One row per scale per item: the `scale_items` seed table."""
        items = {item.id: item for item in self.items}
        rows = []
        for scale in self.scales:
            for item_id in scale.item_ids:
                offset, weight = item_score_map(scale, items[item_id])
                rows.append(
                    {
                        "instrument_id": scale.instrument,
                        "scale_id": scale.id,
                        "indicator": scale.indicator,
                        "item_id": item_id,
                        "is_reversed": item_id in scale.reversed_item_ids,
                        "score_offset": offset,
                        "score_weight": weight,
                    }
                )
        return rows

    def scale_rows(self) -> list[dict[str, object]]:
        """One row per scale: the `scale_definitions` seed table."""
        items = {item.id: item for item in self.items}
        return [
            {
                "instrument_id": scale.instrument,
                "scale_id": scale.id,
                "indicator": scale.indicator,
                "scale_name": scale.name,
                "method": scale.method,
                "item_count": len(scale.item_ids),
                "min_answered": scale.min_answered,
                "risk_when": scale.risk_when,
                "score_min": score_range(scale, items)[0],
                "score_max": score_range(scale, items)[1],
            }
            for scale in self.scales
        ]

    def band_rows(self) -> list[dict[str, object]]:
        """One row per scale per band, in ascending order: the `scale_bands` seed table."""
        return [
            {
                "indicator": scale.indicator,
                "band_id": band.id,
                "band_order": order,
                "lower": band.lower,
                "lower_inclusive": band.lower_inclusive,
            }
            for scale in self.scales
            for order, band in enumerate(scale.bands, start=1)
        ]

    def exposure_band_rows(self) -> list[dict[str, object]]:
        """One row per exposure item per answer code: the `exposure_bands` seed table."""
        return [
            {
                "item_id": item.id,
                "band_id": band.id,
                "band_order": order,
                "band_label": band.label,
                "code": code,
            }
            for item in self.items
            for order, band in enumerate(item.exposure_bands, start=1)
            for code in band.codes
        ]


def normalize_label(label: str) -> str:
    """Answer labels match case- and whitespace-insensitively."""
    return " ".join(label.split()).casefold()


def _options(raw_options: list[dict], source: Path) -> tuple[AnswerOption, ...]:
    if not raw_options:
        raise DefinitionError(f"{source}: an item has no answer options")
    options = tuple(
        AnswerOption(
            code=int(o["code"]),
            value=float(o["value"]),
            label=str(o["label"]),
            also=tuple(str(spelling) for spelling in o.get("also", ())),
        )
        for o in raw_options
    )
    if len({o.code for o in options}) != len(options):
        raise DefinitionError(f"{source}: duplicate answer codes")
    return options


def _group_by(raw_item: dict, source: Path) -> str | None:
    group_by = raw_item.get("group_by")
    if group_by is None:
        return None
    if not IDENTIFIER.fullmatch(group_by) or group_by in RESERVED_GROUP_TYPES:
        raise DefinitionError(f"{source}: {raw_item['id']} cannot group by {group_by!r}")
    return group_by


def _exposure_bands(
    raw_item: dict, options: tuple[AnswerOption, ...], source: Path
) -> tuple[ExposureBand, ...]:
    bands = tuple(
        ExposureBand(id=b["id"], label=b.get("label", b["id"]), codes=tuple(b["codes"]))
        for b in raw_item.get("exposure_bands", [])
    )
    codes = [code for band in bands for code in band.codes]
    if len(set(codes)) != len(codes) or not set(codes) <= {o.code for o in options}:
        raise DefinitionError(
            f"{source}: exposure bands of {raw_item['id']} must use each answer code at most once"
        )
    return bands


def load_instrument(path: Path) -> Instrument:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    instrument_id = data["id"]
    default_options = data.get("answers", {}).get("options", [])
    options_by_number = {
        number: option_set["options"]
        for option_set in data.get("answers", {}).get("item_options", [])
        for number in option_set["items"]
    }
    missing = tuple(str(answer) for answer in data.get("missing_answers", DEFAULT_MISSING_ANSWERS))
    items: list[Item] = []
    for number in range(1, int(data.get("item_count", 0)) + 1):
        items.append(
            Item(
                id=f"{instrument_id}_{number}",
                instrument=instrument_id,
                label=f"{data['name']} item {number}",
                options=_options(options_by_number.get(number, default_options), path),
                missing_answers=missing,
            )
        )
    for raw_item in data.get("items", []):
        options = _options(raw_item.get("options", default_options), path)
        items.append(
            Item(
                id=raw_item["id"],
                instrument=instrument_id,
                label=raw_item.get("label", raw_item["id"]),
                options=options,
                group_by=_group_by(raw_item, path),
                exposure_bands=_exposure_bands(raw_item, options, path),
                missing_answers=missing,
            )
        )
    known = {item.id for item in items}

    def item_id(reference: int | str) -> str:
        resolved = f"{instrument_id}_{reference}" if isinstance(reference, int) else reference
        if resolved not in known:
            raise DefinitionError(f"{path}: scale refers to unknown item {reference!r}")
        return resolved

    scales: list[Scale] = []
    for raw_scale in data.get("scales", []):
        item_ids = tuple(item_id(ref) for ref in raw_scale["items"])
        reversed_ids = tuple(item_id(ref) for ref in raw_scale.get("reversed", []))
        if not set(reversed_ids) <= set(item_ids):
            raise DefinitionError(f"{path}: reversed items must belong to the scale")
        bands = tuple(
            Band(id=b["id"], lower=float(b["lower"]), lower_inclusive=bool(b["lower_inclusive"]))
            for b in raw_scale["bands"]
        )
        if [b.lower for b in bands] != sorted(b.lower for b in bands):
            raise DefinitionError(f"{path}: bands of {raw_scale['id']} must ascend")
        method = raw_scale["method"]
        if method not in SCORE_METHODS:
            raise DefinitionError(f"{path}: unknown score method {method!r}")
        min_answered = int(raw_scale["min_answered"])
        if not 1 <= min_answered <= len(item_ids):
            raise DefinitionError(f"{path}: min_answered out of range for {raw_scale['id']}")
        scales.append(
            Scale(
                instrument=instrument_id,
                id=raw_scale["id"],
                name=raw_scale["name"],
                item_ids=item_ids,
                reversed_item_ids=reversed_ids,
                method=method,
                min_answered=min_answered,
                risk_when=raw_scale.get("risk_when", "high"),
                bands=bands,
            )
        )
    return Instrument(
        id=instrument_id,
        name=data["name"],
        title=data.get("title", data["name"]),
        credit=data.get("credit", ""),
        licence=data.get("licence", ""),
        url=data.get("url", ""),
        recall=data.get("recall", ""),
        items=tuple(items),
        scales=tuple(scales),
    )


def load_registry(directory: Path = DEFINITIONS_DIR) -> Registry:
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        raise DefinitionError(f"no instrument definitions in {directory}")
    instruments = tuple(load_instrument(path) for path in paths)
    ids = [item.id for instrument in instruments for item in instrument.items]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise DefinitionError(f"item ids defined twice: {', '.join(duplicates)}")
    cuts = [item.group_by for i in instruments for item in i.items if item.group_by]
    if len(set(cuts)) != len(cuts):
        raise DefinitionError(f"one reporting cut per group_by: {', '.join(sorted(cuts))}")
    return Registry(instruments=instruments)
