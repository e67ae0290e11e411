"""Sample the persons of a synthetic dataset: body shape, descriptive attributes, outfit.

A person is drawn from ``(seed, person_id)`` alone, so all their clips show the same body
and clothes. The built-in body model's betas do not name gender or age, so a person is
drawn as an Anny phenotype (gender, age 13 to 85, and height, weight, muscle, proportions
from Anny's age- and gender-conditional distribution) and turned into the betas that fit
it best (``hpt_data.body.anny_posing.phenotypes_to_betas``). The record keeps the phenotype,
the measured height and an estimated mass.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpt_data.sources.synthetic.appearance import Outfit, sample_outfit
from hpt_data.sources.synthetic.reproducible import settle

#: Betas are clipped to this many standard deviations (the PCA's far tails look unhuman).
BETA_CLIP = 3.0


@dataclass(frozen=True)
class Person:
    """One synthetic person.

    Attributes
    ----------
    person_id : e.g. ``p000``
    betas : (10,) float64, the body model's shape coefficients
    phenotype : Anny's phenotype values by name (gender 0 male .. 1 female), plus age_years
    height_m, mass_kg : measured on the T-posed mesh (mass from its volume at 1010 kg/m3)
    outfit : colours and clothing choices
    """

    person_id: str
    betas: np.ndarray
    phenotype: dict[str, float]
    height_m: float
    mass_kg: float
    outfit: Outfit

    @property
    def female(self) -> float:
        """Anny's gender phenotype: 0 male .. 1 female."""
        return self.phenotype["gender"]

    @property
    def age_years(self) -> float:
        """The sampled (morphological) age in years."""
        return self.phenotype["age_years"]


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume of a closed triangle mesh by the divergence theorem. (V,3), (F,3) -> m3"""
    v = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]
    return float(abs(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum()) / 6.0)


def _age_years(rng: np.random.Generator) -> float:
    """Teenagers, adults and elders in proportions that keep all three in a small demo."""
    group = int(rng.choice(3, p=[0.2, 0.5, 0.3]))
    lo, hi = ((13.0, 19.0), (19.0, 60.0), (60.0, 85.0))[group]
    return float(rng.uniform(lo, hi))


@functools.lru_cache(maxsize=1)
def _anny() -> tuple[Any, dict[str, np.ndarray]]:
    """Anny and the built-in model's arrays, loaded once per process."""
    from hpt_data.native_logs import init_warp_quietly

    init_warp_quietly()
    import anny

    from hpt_data.body.builtin_cache import load_or_derive

    return anny.Anny(), load_or_derive()


def sample_shape(
    rng: np.random.Generator, num_betas: int = 10
) -> tuple[np.ndarray, dict[str, float]]:
    """Draw a phenotype and the betas of the built-in model that fit it best.

    Gender (Anny: 0 male, 1 female) and age (years) are drawn here; height, weight, muscle
    and proportions from Anny's own distribution given the age and gender (calibrated on
    WHO height/weight data), with torch seeded from ``rng``.

    Returns
    -------
    betas : (num_betas,) float64
    phenotype : dict with Anny's six phenotype values and ``age_years``
    """
    import torch
    from anny.shape_distribution import SimpleShapeDistribution

    from hpt_data.body.anny_posing import phenotypes_to_betas

    model, arrays = _anny()
    female = bool(rng.random() < 0.5)
    gender = float(rng.uniform(0.88, 1.0) if female else rng.uniform(0.0, 0.12))
    age = _age_years(rng)
    dt = model.dtype

    def point(x: float) -> torch.distributions.Distribution:
        return torch.distributions.Uniform(
            torch.tensor(x, dtype=dt), torch.tensor(x + 1e-6, dtype=dt)
        )

    with torch.random.fork_rng():
        torch.manual_seed(int(rng.integers(2**31)))
        dist = SimpleShapeDistribution(
            model, morphological_age_distribution=point(age), gender_distribution=point(gender)
        )
        _, kwargs = dist.sample(1)
    labels = [str(x) for x in arrays["phenotype_labels"]]
    values = np.array([[float(kwargs[k][0]) for k in labels]])
    betas = phenotypes_to_betas(model, arrays, values)[0, :num_betas]
    pheno = {k: round(float(v), 5) for k, v in zip(labels, values[0], strict=True)}
    pheno["age_years"] = round(age, 2)
    return np.round(np.clip(betas, -BETA_CLIP, BETA_CLIP), 6), pheno


def sample_person(person_id: str, rng: np.random.Generator, model: Any) -> Person:
    """Draw one person's shape and outfit; measures height and mass on the body model.

    Parameters
    ----------
    person_id : the id recorded with the person
    rng : the person's own generator (seeded from the dataset seed and ``person_id``)
    model : the body model (``hpt_data.body.BodyModel``)
    """
    import torch

    betas, pheno = sample_shape(rng, int(getattr(model, "num_betas", 10)))
    with torch.no_grad():
        out = model.forward(betas=torch.as_tensor(betas[None], dtype=getattr(model, "dtype", None)))
    verts = settle(out.vertices[0])
    faces = np.asarray(model.faces)
    height = round(float(np.ptp(verts[:, 1])), 4)
    mass = round(mesh_volume(verts, faces) * 1010.0, 2)
    outfit = sample_outfit(rng, age=pheno["age_years"], female=pheno["gender"])
    return Person(person_id, betas, pheno, height, mass, outfit)
