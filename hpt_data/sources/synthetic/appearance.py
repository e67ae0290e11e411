"""Dress a body by per-vertex colour: skin, hair, face features, shirt, trousers, shoes.

Regions are found once on the person's rest mesh (zero pose, their shape) from the
24-joint skinning weights and from where a vertex lies along its limb (shoulder -> wrist,
hip -> ankle), so they stick to the skin when the body moves. Colours are sRGB in [0, 1];
fabrics get stripes or checks and a little per-vertex noise so they do not look like plastic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

# Skin tones from light to dark (sRGB 0..255), a realistic range to interpolate.
_SKIN = np.array(
    [
        [246, 214, 192],
        [234, 192, 160],
        [214, 164, 128],
        [190, 136, 98],
        [155, 104, 70],
        [118, 78, 52],
        [86, 56, 38],
    ],
    dtype=np.float64,
)
_HAIR = {
    "black": (28, 24, 22),
    "dark_brown": (58, 40, 28),
    "brown": (98, 68, 44),
    "auburn": (120, 56, 34),
    "blond": (196, 164, 112),
    "grey": (150, 148, 144),
    "white": (214, 212, 206),
}
_GARMENT = {
    "black": (32, 32, 35),
    "charcoal": (70, 72, 78),
    "grey": (140, 140, 142),
    "white": (228, 228, 224),
    "navy": (36, 48, 86),
    "denim": (62, 88, 130),
    "light_denim": (110, 140, 178),
    "khaki": (178, 160, 120),
    "beige": (210, 195, 170),
    "olive": (96, 104, 60),
    "forest": (40, 92, 60),
    "burgundy": (118, 34, 48),
    "red": (190, 44, 44),
    "orange": (222, 120, 48),
    "yellow": (226, 196, 72),
    "sky": (120, 170, 220),
    "teal": (40, 128, 130),
    "purple": (98, 66, 140),
    "pink": (222, 150, 170),
    "brown": (110, 74, 48),
}
_TOPS = ("white", "grey", "charcoal", "black", "navy", "sky", "red", "burgundy", "forest",
         "olive", "teal", "purple", "pink", "yellow", "orange", "beige")  # fmt: skip
_BOTTOMS = ("denim", "light_denim", "black", "charcoal", "grey", "khaki", "navy", "beige",
            "olive", "brown")  # fmt: skip
_SHOES = ("black", "black", "white", "brown", "grey", "navy", "charcoal", "burgundy")


@dataclass(frozen=True)
class Outfit:
    """One person's look: colours (sRGB 0..1) and clothing choices."""

    skin_tone: float  # 0 lightest .. 1 darkest of the palette
    skin: tuple[float, float, float]
    hair_name: str
    hair: tuple[float, float, float]
    hair_style: str  # bald, short, medium, long
    shirt_name: str
    shirt: tuple[float, float, float]
    shirt_pattern: str  # plain, stripes, check
    sleeves: str  # short, long
    lower_name: str
    lower: tuple[float, float, float]
    lower_kind: str  # trousers, shorts
    shoes_name: str
    shoes: tuple[float, float, float]

    def to_record(self) -> dict[str, object]:
        return asdict(self)


def _rgb(name_table: Mapping[str, tuple[int, int, int]], name: str) -> tuple[float, float, float]:
    r, g, b = name_table[name]
    return (r / 255.0, g / 255.0, b / 255.0)


def sample_outfit(rng: np.random.Generator, age: float, female: float) -> Outfit:
    """Draw an outfit; hair depends loosely on age (greys) and gender (longer hair).

    Parameters
    ----------
    age : approximate age in years
    female : 0 (male) .. 1 (female) phenotype value
    """
    tone = float(rng.uniform(0.0, 1.0))
    pos = tone * (len(_SKIN) - 1)
    i = min(int(pos), len(_SKIN) - 2)
    skin = (_SKIN[i] + (_SKIN[i + 1] - _SKIN[i]) * (pos - i)) / 255.0
    if age > 60 and rng.random() < 0.75:
        hair_name = str(rng.choice(["grey", "white"]))
    elif age > 45 and rng.random() < 0.3:
        hair_name = "grey"
    else:
        dark = tone > 0.5
        names = ["black", "dark_brown", "brown", "auburn", "blond"]
        p = (
            np.array([0.55, 0.3, 0.1, 0.03, 0.02])
            if dark
            else np.array([0.2, 0.3, 0.25, 0.1, 0.15])
        )
        hair_name = str(rng.choice(names, p=p))
    if female > 0.5:
        hair_style = str(rng.choice(["short", "medium", "long"], p=[0.15, 0.35, 0.5]))
    else:
        p_bald = 0.35 if age > 50 else 0.05
        hair_style = str(rng.choice(["bald", "short", "medium"], p=[p_bald, 0.9 - p_bald, 0.1]))
    shirt_name = str(rng.choice(_TOPS))
    lower_name = str(rng.choice(_BOTTOMS))
    shoes_name = str(rng.choice(_SHOES))
    return Outfit(
        skin_tone=tone,
        skin=tuple(float(x) for x in skin),  # type: ignore[arg-type]
        hair_name=hair_name,
        hair=_rgb(_HAIR, hair_name),
        hair_style=hair_style,
        shirt_name=shirt_name,
        shirt=_rgb(_GARMENT, shirt_name),
        shirt_pattern=str(rng.choice(["plain", "stripes", "check"], p=[0.6, 0.25, 0.15])),
        sleeves=str(rng.choice(["short", "long"])),
        lower_name=lower_name,
        lower=_rgb(_GARMENT, lower_name),
        lower_kind=str(rng.choice(["trousers", "shorts"], p=[0.7, 0.3])),
        shoes_name=shoes_name,
        shoes=_rgb(_GARMENT, shoes_name),
    )


def _along(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Position of each point's projection on segment a->b: 0 at a, 1 at b. (N,3) -> (N,)"""
    d = b - a
    return (points - a) @ d / float(d @ d)


def _smooth_noise(points: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Sum of random 3-D sinusoids: smooth noise in about [-1, 1] over the mesh. (N,3) -> (N,)"""
    out = np.zeros(len(points))
    for _ in range(6):
        k = rng.normal(size=3)
        k *= 2 * np.pi / scale / np.linalg.norm(k)
        out += np.sin(points @ k + rng.uniform(0, 2 * np.pi))
    return out / np.sqrt(3.0)


def vertex_colors(
    outfit: Outfit,
    rest_vertices: np.ndarray,
    rest_joints: np.ndarray,
    skinning_weights: np.ndarray,
    landmarks: Mapping[str, int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex sRGB colours of a dressed person.

    Parameters
    ----------
    outfit : the person's look
    rest_vertices : (V, 3) vertices at zero pose (T-pose) with the person's shape
    rest_joints : (24, 3) SMPL joints at zero pose
    skinning_weights : (V, 24)
    landmarks : vertex index by name; uses ``nose``, ``left_eye``, ``right_eye`` if present
    rng : generator for the fabric and skin noise

    Returns
    -------
    colors : (V, 3) float64 sRGB in [0, 1]
    region : (V,) uint8, 0 skin, 1 hair, 2 shirt, 3 lower garment, 4 shoes, 5 face feature
    """
    v = np.asarray(rest_vertices, dtype=np.float64)
    j = np.asarray(rest_joints, dtype=np.float64)
    w = np.asarray(skinning_weights)
    if v.ndim != 2 or v.shape[1] != 3 or j.shape != (24, 3) or w.shape != (len(v), 24):
        raise ValueError(f"bad shapes: vertices {v.shape}, joints {j.shape}, weights {w.shape}")
    owner = np.argmax(w, axis=1)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    region = np.zeros(len(v), dtype=np.uint8)

    arm = {"l": np.isin(owner, [16, 18, 20, 22]), "r": np.isin(owner, [17, 19, 21, 23])}
    leg = {"l": np.isin(owner, [1, 4, 7, 10]), "r": np.isin(owner, [2, 5, 8, 11])}
    torso = np.isin(owner, [0, 3, 6, 9, 13, 14])
    neck = owner == 12
    head = owner == 15

    # lower garment: torso below the waist, legs down to the knee (shorts) or ankle
    waist_y = j[0, 1] + 0.55 * (j[6, 1] - j[0, 1])
    lower_len = 0.42 if outfit.lower_kind == "shorts" else 1.2
    lower = torso & (y < waist_y)
    shoes = np.zeros(len(v), dtype=bool)
    for s, (hip, ankle) in {"l": (1, 7), "r": (2, 8)}.items():
        t = _along(v, j[hip], j[ankle])
        shoes |= leg[s] & ((y < j[ankle, 1] + 0.05) | np.isin(owner, [10, 11]))
        lower |= leg[s] & (t < lower_len)
    # shirt: torso above the waist up to a neckline, arms down to the sleeve length
    # the neckline dips at the front and rises towards the shoulders, where all is shirt
    neck_y = j[12, 1]
    front = z > j[12, 2]
    r = np.abs(x - j[12, 0])
    neckline = np.where(front, neck_y - 0.05, neck_y - 0.012) + np.clip(r - 0.05, 0, None) * 3.0
    shirt = (torso & (y >= waist_y) & (y < neckline)) | (neck & (y < neckline - 0.01))
    sleeve = 0.3 if outfit.sleeves == "short" else 0.93
    for s, (sh, wr) in {"l": (16, 20), "r": (17, 21)}.items():
        shirt |= arm[s] & (_along(v, j[sh], j[wr]) < sleeve)
    region[lower] = 3
    region[shirt & ~lower] = 2
    region[shoes] = 4

    # hair: a cap on the head above a hairline that runs from the forehead to the nape
    hair = np.zeros(len(v), dtype=bool)
    head_pts = v[head | neck]
    top = head_pts[:, 1].max() if len(head_pts) else j[15, 1] + 0.2
    hz = v[head, 2] if head.any() else np.array([j[15, 2]])
    z_back, z_front = hz.min(), hz.max()
    eye_ids = [landmarks[k] for k in ("left_eye", "right_eye") if k in landmarks]
    eye_y = float(np.mean(v[eye_ids, 1])) if eye_ids else j[15, 1] + 0.45 * (top - j[15, 1])
    if outfit.hair_style != "bald":
        fz = np.clip((z - z_back) / max(z_front - z_back, 1e-6), 0, 1)  # 0 back, 1 front
        front_line = eye_y + 0.42 * (top - eye_y)
        nape = {"short": j[15, 1] + 0.02, "medium": j[12, 1] + 0.01, "long": j[12, 1] - 0.06}
        back_line = nape[outfit.hair_style]
        side_line = eye_y + 0.05 if outfit.hair_style == "short" else eye_y - 0.05
        line = np.where(
            fz > 0.5,
            side_line + (front_line - side_line) * np.clip((fz - 0.5) / 0.35, 0, 1),
            back_line + (side_line - back_line) * np.clip(fz / 0.5, 0, 1),
        )
        hair = (head | neck | (torso & ~front)) & (y > line) & (y > back_line)
        if outfit.hair_style == "long":
            # long hair falls over the upper back
            hair |= (
                torso & (z < j[9, 2] - 0.02) & (y > j[12, 1] - 0.16) & (np.abs(x - j[12, 0]) < 0.11)
            )
        region[hair] = 1

    skin = np.asarray(outfit.skin)
    colors = np.tile(skin, (len(v), 1))
    colors *= 1.0 + 0.05 * _smooth_noise(v, rng, 0.15)[:, None]
    # warmer cheeks, lips, ears; darker brows and eyes
    features = np.zeros(len(v), dtype=bool)
    if eye_ids and "nose" in landmarks:
        nose = v[landmarks["nose"]]
        face_front = head & (z > nose[2] - 0.05)
        for eid in eye_ids:
            e = v[eid]
            d = np.linalg.norm((v - e) * np.array([1.0, 1.6, 0.5]), axis=1)
            iris = face_front & (d < 0.0065)
            white = face_front & (d >= 0.0065) & (d < 0.012) & (np.abs(y - e[1]) < 0.0035)
            brow = (
                face_front
                & (np.abs(x - e[0]) < 0.024)
                & (y > e[1] + 0.014 + 0.004 * (np.abs(x - e[0]) / 0.024))
                & (y < e[1] + 0.024 + 0.004 * (np.abs(x - e[0]) / 0.024))
            )
            colors[white] = (0.78, 0.74, 0.7)
            colors[iris] = (0.12, 0.08, 0.06)
            colors[brow] = np.asarray(outfit.hair) * 0.6 + skin * 0.15
            features |= iris | white | brow
        mouth_y = nose[1] - 0.032
        lips = face_front & (np.abs(x - nose[0]) < 0.024) & (np.abs(y - mouth_y) < 0.007)
        lips &= z > nose[2] - 0.035
        colors[lips] = skin * np.array([0.82, 0.58, 0.58])
        features |= lips
        cheek = (
            face_front & (np.abs(np.abs(x - nose[0]) - 0.04) < 0.02) & (np.abs(y - nose[1]) < 0.02)
        )
        colors[cheek] *= np.array([1.02, 0.95, 0.93])
    region[features] = 5
    # hands and feet a touch redder than the arms
    colors[np.isin(owner, [20, 21, 22, 23])] *= np.array([1.02, 0.96, 0.94])

    fabric = _smooth_noise(v, rng, 0.05)
    grain = rng.uniform(-1, 1, size=len(v))
    for code, base, pattern in (
        (2, outfit.shirt, outfit.shirt_pattern),
        (3, outfit.lower, "denim" if "denim" in outfit.lower_name else "plain"),
        (4, outfit.shoes, "plain"),
    ):
        m = region == code
        c = np.tile(np.asarray(base), (int(m.sum()), 1))
        if pattern == "stripes":
            period = rng.uniform(0.05, 0.09)
            # soft-edged bands: a hard threshold looks jagged on the mesh's triangles
            band = np.clip((np.sin(2 * np.pi * y[m] / period) - 0.2) * 2.5 + 0.5, 0, 1)[:, None]
            c = c * (1 - band) + _contrast(np.asarray(base), rng)[None] * band
        elif pattern == "check":
            period = rng.uniform(0.06, 0.1)
            u1 = np.clip((np.sin(2 * np.pi * y[m] / period) - 0.4) * 2.5 + 0.5, 0, 1)
            u2 = np.clip((np.sin(2 * np.pi * (x[m] + z[m]) / period) - 0.4) * 2.5 + 0.5, 0, 1)
            mix = (0.45 * np.maximum(u1, u2))[:, None]
            c = c * (1 - mix) + _contrast(np.asarray(base), rng)[None] * mix
        amp = 0.05 if pattern == "denim" else 0.03
        c *= (1.0 + amp * fabric[m] + 0.03 * grain[m])[:, None]
        colors[m] = c
    hair_m = region == 1
    colors[hair_m] = (
        np.asarray(outfit.hair) * (1.0 + 0.12 * grain[hair_m] + 0.06 * fabric[hair_m])[:, None]
    )
    return np.clip(colors, 0.0, 1.0), region


#: How far (metres) each region's surface stands off the skin along the normal: a little
#: cloth and hair volume, with a step at hems, cuffs and the hairline.
_STAND_OFF = {"skin": 0.0, "shirt": 0.006, "trousers": 0.009, "shorts": 0.007, "shoes": 0.007}
_HAIR_STAND_OFF = {"bald": 0.0, "short": 0.007, "medium": 0.012, "long": 0.016}


def stand_off(outfit: Outfit, region: np.ndarray) -> np.ndarray:
    """Per-vertex offset along the normal (V,) float64 for regions from :func:`vertex_colors`.

    Rendering the body pushed out by these offsets gives clothes and hair some thickness
    (the ground-truth mask and parts are rendered from the same dressed surface).
    """
    r = np.asarray(region)
    out = np.zeros(r.shape, dtype=np.float64)
    out[r == 1] = _HAIR_STAND_OFF[outfit.hair_style]
    out[r == 2] = _STAND_OFF["shirt"]
    out[r == 3] = _STAND_OFF[outfit.lower_kind]
    out[r == 4] = _STAND_OFF["shoes"]
    return out


def _contrast(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A second fabric colour that stands out from ``base``: white on dark, dark on light."""
    lum = float(base @ np.array([0.3, 0.59, 0.11]))
    name = str(rng.choice(_TOPS))
    other = np.asarray(_rgb(_GARMENT, name))
    if abs(float(other @ np.array([0.3, 0.59, 0.11])) - lum) < 0.25:
        other = np.array([0.9, 0.9, 0.88]) if lum < 0.5 else np.array([0.12, 0.12, 0.14])
    return other
