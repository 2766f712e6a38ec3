"""The record of one graded case (shared by the grader and the student's self-check).

The catalog of cases lives in ``grader/cases.py``, which is not shipped to students; this
module only defines the record and its JSON form.
"""

from dataclasses import dataclass, field

VISIBILITIES = ("public", "hidden")


def freeze(value):
    if isinstance(value, dict):
        return tuple((k, freeze(v)) for k, v in sorted(value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    if isinstance(value, tuple) and value and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                                                  for p in value):
        return {k: thaw(v) for k, v in value}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Case:
    """One graded call. ``shape`` and ``params`` are frozen mappings (tuples of pairs)."""

    name: str
    target: str
    group: str
    recipe: str
    points: float
    visibility: str
    tolerance: float
    hint: str
    seed: int
    shape: tuple
    params: tuple = ()
    floor: float = 1e-8
    floor_rel: float = 1e-6
    module: str = field(default="")

    def __post_init__(self):
        if self.visibility not in VISIBILITIES:
            raise ValueError(f"{self.name}: visibility must be one of {VISIBILITIES}, got {self.visibility!r}")
        if not self.points > 0:
            raise ValueError(f"{self.name}: points must be positive")

    @property
    def shape_spec(self):
        return thaw(self.shape) if self.shape else {}

    @property
    def call_params(self):
        return thaw(self.params) if self.params else {}

    @property
    def hidden(self):
        return self.visibility == "hidden"

    def to_json(self):
        return {
            "name": self.name, "target": self.target, "group": self.group, "recipe": self.recipe,
            "points": self.points, "visibility": self.visibility, "tolerance": self.tolerance,
            "hint": self.hint, "seed": self.seed, "shape": self.shape_spec, "params": self.call_params,
            "floor": self.floor, "floor_rel": self.floor_rel, "module": self.module,
        }

    @classmethod
    def from_json(cls, d):
        return cls(name=d["name"], target=d["target"], group=d["group"], recipe=d["recipe"],
                   points=float(d["points"]), visibility=d["visibility"], tolerance=float(d["tolerance"]),
                   hint=d["hint"], seed=int(d["seed"]), shape=freeze(d["shape"]), params=freeze(d["params"]),
                   floor=float(d["floor"]), floor_rel=float(d["floor_rel"]), module=d.get("module", ""))


def split_by_case(arrays):
    """{"<case name>:<name>": array} -> {case name: {name: array}}."""
    out = {}
    for key, value in arrays.items():
        case, name = key.rsplit(":", 1)
        out.setdefault(case, {})[name] = value
    return out


def load_group(path):
    """A trusted ``.npz`` of the grader's own (inputs or reference values), split by case."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return split_by_case({k: data[k] for k in data.files})
