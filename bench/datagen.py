"""Synthetic, deterministic telemetry: vehicles reporting at 1 Hz and factory metrics.

Pure (no database): the same seed, sizes and start give byte-identical rows, so tuned and
default clusters, and reruns, load exactly the same data. Rows come out in time order across
vehicles, the order a Kafka consumer would write them in.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

VEHICLE_COLUMNS = (
    "license_plate",
    "time",
    "longitude",
    "latitude",
    "speed",
    "gps_speed",
    "gps_status",
    "driver_id",
    "raw_data",
    "ignition",
    "engine_on",
    "fuel_level",
    "battery_voltage",
)
METRIC_DEF_COLUMNS = ("metric_def_id", "equipment_code", "name", "value_type", "unit")
METRIC_COLUMNS = ("metric_def_id", "ts", "value_bool", "value_int", "value_real")

# Plates look like the reference system's (region, letter, five characters); ASCII only so
# any client encoding reproduces them.
_REGIONS = ("SH", "BJ", "GD", "ZJ", "JS", "SC")
_PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_CENTRE = (121.47, 31.23)  # a city centre the fleet drives around (lon, lat)
_METRICS = (  # name, value_type, unit: one machine's sensors
    ("running", "bool", None),
    ("spindle_rpm", "int", "rpm"),
    ("temperature", "real", "degC"),
    ("vibration", "real", "mm/s"),
    ("parts_count", "int", "parts"),
)

VehicleRow = tuple[str, datetime, float, float, float, float, str, str, str, bool, bool, int, float]
MetricRow = tuple[int, datetime, bool | None, int | None, float | None]
MetricDef = tuple[int, str, str, str, str | None]


@dataclass(frozen=True)
class Sizes:
    vehicles: int
    seconds: int  # of data per vehicle, one row a second
    machines: int = 4  # factory: each machine has len(_METRICS) metrics at 1 Hz

    @property
    def vehicle_rows(self) -> int:
        return self.vehicles * self.seconds

    @property
    def metric_rows(self) -> int:
        return self.machines * len(_METRICS) * self.seconds


def plates(count: int, seed: int) -> list[str]:
    """`count` distinct plates, the same for the same seed."""
    rng, seen = random.Random(f"plates-{seed}"), set[str]()
    out: list[str] = []
    while len(out) < count:
        plate = f"{rng.choice(_REGIONS)}-{rng.choice(_PLATE_CHARS[:24])}" + "".join(
            rng.choice(_PLATE_CHARS) for _ in range(5)
        )
        if plate not in seen:
            seen.add(plate)
            out.append(plate)
    return out


@dataclass
class _Vehicle:
    """One vehicle's state, advanced one second at a time (a random walk that parks)."""

    plate: str
    driver: str
    rng: random.Random
    lon: float
    lat: float
    heading: float
    speed: float = 0.0
    fuel: float = 80.0
    parked_for: int = 0

    def step(self, time: datetime) -> VehicleRow:
        rng = self.rng
        if self.parked_for > 0:
            self.parked_for -= 1
            self.speed = 0.0
        elif rng.random() < 0.002:  # stops now and then: speed 0, engine off
            self.parked_for = rng.randint(30, 600)
        else:
            self.speed = min(120.0, max(0.0, self.speed + rng.gauss(0.3, 2.5)))
            self.heading += rng.gauss(0, 0.08)
        metres = self.speed / 3.6
        self.lat += metres * math.cos(self.heading) / 111_320
        self.lon += metres * math.sin(self.heading) / (111_320 * math.cos(math.radians(self.lat)))
        self.fuel = max(5.0, self.fuel - self.speed * 2e-5)
        moving = self.speed > 0
        valid = rng.random() > 0.02  # a void fix ('V') now and then, as real receivers give
        drift = rng.gauss(0, 0.00002)  # GPS noise around the true track
        raw = {
            "can": {"rpm": int(700 + self.speed * 25 + rng.random() * 50) if moving else 0},
            "satellites": rng.randint(4, 14) if valid else 0,
            "gsm_signal": rng.randint(8, 31),
            "odometer_km": round(rng.random() * 1e5, 1),
        }
        return (
            self.plate,
            time,
            round(self.lon + drift, 6),
            round(self.lat + drift, 6),
            round(self.speed, 1),
            round(max(0.0, self.speed + rng.gauss(0, 0.8)), 1),
            "A" if valid else "V",
            self.driver,
            json.dumps(raw, separators=(",", ":")),
            moving or (self.parked_for > 0 and rng.random() < 0.1),
            moving,
            round(self.fuel),
            round(12.4 + (1.8 if moving else 0.0) + rng.random() * 0.2, 2),
        )


def vehicle_rows(
    vehicle_plates: Sequence[str], seconds: int, start: datetime, seed: int
) -> Iterator[VehicleRow]:
    """1 Hz rows of every vehicle from `start`, time-major."""
    fleet = []
    for number, plate in enumerate(vehicle_plates):
        rng = random.Random(f"vehicle-{seed}-{plate}")
        fleet.append(
            _Vehicle(
                plate=plate,
                driver=f"D{number:06d}",
                rng=rng,
                lon=_CENTRE[0] + rng.uniform(-0.2, 0.2),
                lat=_CENTRE[1] + rng.uniform(-0.2, 0.2),
                heading=rng.uniform(0, 2 * math.pi),
            )
        )
    for second in range(seconds):
        time = start + timedelta(seconds=second)
        for vehicle in fleet:
            yield vehicle.step(time)


def metric_defs(machines: int) -> list[MetricDef]:
    return [
        (machine * len(_METRICS) + index + 1, f"M{machine + 1:03d}", name, kind, unit)
        for machine in range(machines)
        for index, (name, kind, unit) in enumerate(_METRICS)
    ]


def metric_rows(
    defs: Sequence[MetricDef], seconds: int, start: datetime, seed: int
) -> Iterator[MetricRow]:
    """1 Hz samples of every metric; exactly one value column set, by the metric's type."""
    rng = random.Random(f"metrics-{seed}")
    for second in range(seconds):
        ts = start + timedelta(seconds=second)
        for metric_id, _, name, kind, _ in defs:
            if kind == "bool":
                yield (metric_id, ts, rng.random() > 0.05, None, None)
            elif kind == "int":
                base = second if name == "parts_count" else 12_000
                yield (metric_id, ts, None, base + rng.randint(-50, 50), None)
            else:
                yield (metric_id, ts, None, None, round(60 + rng.gauss(0, 3), 3))


def _text(value: object) -> str:
    """A value in PostgreSQL's text input format (COPY text and text bind parameters)."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _copy_field(value: object) -> str:
    if value is None:
        return "\\N"
    # COPY text format: backslash, tab and newline are the only characters to escape.
    return _text(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy_text(rows: Sequence[Sequence[object]]) -> bytes:
    """Rows in COPY text format, rendered before the clock starts (we time the server)."""
    return "".join("\t".join(_copy_field(value) for value in row) + "\n" for row in rows).encode()


def bind_parameters(rows: Sequence[Sequence[object]]) -> list[bytes | None]:
    """Rows flattened into text-format bind parameters ($1, $2, ... row by row; NULL is
    None), rendered before the clock starts like the COPY data."""
    return [None if value is None else _text(value).encode() for row in rows for value in row]
