"""Formula definitions of SROI and VIS (pydantic), and the built-in version 1 of each.

A formula version is immutable once stored: proxies, discount rates, defaults, weights and scales
all live in its definition, so a result computed under version 1 can always be explained (and
recomputed) under version 1 even after version 2 exists. See docs/impact.md for every formula.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["sroi", "vis"]
KINDS: tuple[str, ...] = ("sroi", "vis")
Fraction = Field(ge=0.0, le=1.0)


class ConfidenceParams(BaseModel):
    """Confidence = w_sample x min(1, n / target_sample) + w_control x min(1, control share /
    target_control_share) + w_follow_up x min(1, follow-up share / target_follow_up_share)."""

    model_config = ConfigDict(extra="forbid")

    target_sample: int = Field(100, ge=1, description="Participants measured for full sample credit.")
    target_control_share: float = Field(0.2, gt=0, le=1, description="Share of participants in a control group.")
    target_follow_up_share: float = Field(0.5, gt=0, le=1, description="Share of participants followed up.")
    weight_sample: float = Field(0.5, ge=0, le=1)
    weight_control: float = Field(0.25, ge=0, le=1)
    weight_follow_up: float = Field(0.25, ge=0, le=1)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> ConfidenceParams:
        total = self.weight_sample + self.weight_control + self.weight_follow_up
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"confidence weights must sum to 1 (they sum to {total:g})")
        return self


class SroiDefinition(BaseModel):
    """SROI per the Social Value UK guide: quantity x proxy x (1 - deadweight) x (1 - attribution) x
    (1 - displacement), declining by drop-off over the benefit period and discounted per year."""

    model_config = ConfigDict(extra="forbid")

    currency: str = Field("USD", min_length=3, max_length=3, description="Currency of proxies and costs.")
    proxies: dict[str, dict[str, float]] = Field(
        description="Financial proxy per person achieving the outcome, per year: {sector: {dimension: value}}; "
        "the `default` sector applies to tenants whose industry has no entry."
    )
    proxy_sources: dict[str, str] = Field(
        default_factory=dict, description="Where each dimension's proxy comes from (shown in explanations)."
    )
    discount_rates: dict[str, float] = Field(description="Annual discount rate per sector; `default` for the rest.")
    deadweight: float = Fraction
    attribution: float = Fraction
    displacement: float = Fraction
    drop_off: float = Fraction
    benefit_years: int = Field(3, ge=1, le=30)
    min_gain: float = Field(0.0, ge=0, le=1, description="Outcome achieved when post - baseline > this.")
    min_control_participants: int = Field(5, ge=1, description="Control participants to calibrate deadweight.")
    min_follow_up_participants: int = Field(5, ge=1, description="Followed-up participants to calibrate drop-off.")
    confidence: ConfidenceParams = Field(default_factory=ConfidenceParams)

    @model_validator(mode="after")
    def _defaults_present(self) -> SroiDefinition:
        if "default" not in self.proxies:
            raise ValueError("proxies need a 'default' sector")
        if "default" not in self.discount_rates:
            raise ValueError("discount_rates need a 'default' sector")
        for sector, table in self.proxies.items():
            for dimension, value in table.items():
                if value < 0:
                    raise ValueError(f"proxy {sector}.{dimension} is negative")
        for sector, rate in self.discount_rates.items():
            if not 0 <= rate < 1:
                raise ValueError(f"discount rate of {sector} must be in [0, 1)")
        return self

    def proxy_for(self, sector: str | None, dimension: str) -> tuple[float | None, str]:
        """The proxy of `dimension` for `sector` and which table it came from."""
        if sector and dimension in self.proxies.get(sector, {}):
            return self.proxies[sector][dimension], f"sector '{sector}'"
        if dimension in self.proxies["default"]:
            return self.proxies["default"][dimension], "sector 'default'"
        return None, "no proxy"

    def discount_rate_for(self, sector: str | None) -> tuple[float, str]:
        if sector and sector in self.discount_rates:
            return self.discount_rates[sector], f"sector '{sector}'"
        return self.discount_rates["default"], "sector 'default'"


class VisWeights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours: float = Field(0.3, ge=0, le=1)
    consistency: float = Field(0.3, ge=0, le=1)
    outcome: float = Field(0.4, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> VisWeights:
        total = self.hours + self.consistency + self.outcome
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"VIS weights must sum to 1 (they sum to {total:g})")
        return self


class VisScales(BaseModel):
    """Each component is linear from 0 up to its full-credit value, then capped at 1."""

    model_config = ConfigDict(extra="forbid")

    hours_per_month: float = Field(20.0, gt=0, description="Volunteer hours per month for full credit.")
    sessions_per_month: float = Field(4.0, gt=0, description="Sessions per month for full credit (weekly).")
    outcome_gain: float = Field(0.25, gt=0, le=1, description="Mean participant gain (0..1 scale) for full credit.")


class VisBand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    min_score: float = Field(ge=0, le=100)


class VisDefinition(BaseModel):
    """VIS = 100 x (w_hours x hours component + w_consistency x consistency + w_outcome x outcome)."""

    model_config = ConfigDict(extra="forbid")

    weights: VisWeights = Field(default_factory=VisWeights)
    scales: VisScales = Field(default_factory=VisScales)
    bands: list[VisBand] = Field(min_length=1)

    @model_validator(mode="after")
    def _bands_ordered(self) -> VisDefinition:
        mins = [band.min_score for band in self.bands]
        if mins[0] != 0 or mins != sorted(mins) or len(set(mins)) != len(mins):
            raise ValueError("bands must start at 0 and increase strictly")
        return self

    def band_for(self, score: float) -> str:
        name = self.bands[0].name
        for band in self.bands:
            if score >= band.min_score:
                name = band.name
        return name


SROI_V1 = SroiDefinition(
    currency="USD",
    proxies={
        "default": {
            "integration": 2_500.0,
            "language": 1_800.0,
            "job_readiness": 4_000.0,
            "wellbeing": 3_000.0,
            "belonging": 1_200.0,
        },
        "education": {"language": 2_200.0, "job_readiness": 4_500.0},
        "health": {"wellbeing": 3_600.0},
    },
    proxy_sources={
        "integration": "v1 default: illustrative annual value of settled integration; replace with a local valuation",
        "language": "v1 default: illustrative annual value of language course progress (cost of an equivalent course)",
        "job_readiness": (
            "v1 default: illustrative annual value of employability gains (cost of an equivalent programme)"
        ),
        "wellbeing": "v1 default: illustrative annual value of improved wellbeing (wellbeing-valuation style)",
        "belonging": "v1 default: illustrative annual value of reduced isolation",
    },
    discount_rates={"default": 0.035, "health": 0.015},
    deadweight=0.2,
    attribution=0.25,
    displacement=0.05,
    drop_off=0.3,
    benefit_years=3,
)

VIS_V1 = VisDefinition(
    weights=VisWeights(hours=0.3, consistency=0.3, outcome=0.4),
    scales=VisScales(hours_per_month=20.0, sessions_per_month=4.0, outcome_gain=0.25),
    bands=[
        VisBand(name="Emerging", min_score=0),
        VisBand(name="Contributing", min_score=25),
        VisBand(name="High Impact", min_score=50),
        VisBand(name="Exceptional", min_score=75),
    ],
)

BUILTIN: dict[str, SroiDefinition | VisDefinition] = {"sroi": SROI_V1, "vis": VIS_V1}


def parse_definition(kind: str, data: dict[str, object]) -> SroiDefinition | VisDefinition:
    model = SroiDefinition if kind == "sroi" else VisDefinition
    return model.model_validate(data)
