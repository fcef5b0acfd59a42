"""Synthetic bundles: scale benchmarks and stand-ins for catalogues the project has never seen.

The generative story mirrors what makes real data hard. Items have Zipf-like popularity and one or
two topics; users have a few topical interests and draw each interaction either from an interest
(items of that topic, weighted by popularity) or from global popularity. Users pick interests in
proportion to the topic's popularity mass, so an item's expected count stays proportional to its
Zipf weight: the rank-count curve keeps the configured exponent. Texts (real English words of the
item's topics plus noise), KG entities (creators, publishers, keywords of the item's topic) and tags
all carry the topic, so that text and graph signals can reach the tail and cold items where IDs cannot.

Everything is vectorised numpy, the files too: each line is a row of a padded byte matrix, never a
Python string.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from kgrec.data.dataset import Interactions
from kgrec.data.split import split_interactions
from kgrec.errors import KgrecError

# Per-topic vocabularies of real words, so that a sentence encoder relates items of one topic.
TOPICS: dict[str, tuple[str, ...]] = {
    "space": ("rocket", "galaxy", "astronaut", "planet", "orbit", "comet", "telescope", "nebula", "satellite",
              "asteroid", "moon", "cosmos"),
    "ocean": ("whale", "coral", "tide", "reef", "dolphin", "shark", "sailor", "harbor", "lighthouse", "wave", "kelp",
              "submarine"),
    "cooking": ("recipe", "kitchen", "chef", "oven", "spice", "pasta", "bread", "soup", "flavor", "baking", "sauce",
                "dinner"),
    "music": ("guitar", "melody", "drum", "concert", "rhythm", "piano", "song", "orchestra", "singer", "chorus",
              "violin", "album"),
    "football": ("goal", "stadium", "striker", "referee", "league", "penalty", "coach", "match", "goalkeeper",
                 "tackle", "trophy", "season"),
    "mystery": ("detective", "clue", "murder", "suspect", "alibi", "witness", "secret", "inspector", "evidence",
                "riddle", "culprit", "disappearance"),
    "romance": ("love", "wedding", "kiss", "heart", "romance", "couple", "passion", "bride", "date", "flirt",
                "sweetheart", "valentine"),
    "war": ("soldier", "battle", "army", "tank", "general", "trench", "rifle", "invasion", "siege", "regiment",
            "bunker", "veteran"),
    "fantasy": ("dragon", "wizard", "castle", "sword", "quest", "elf", "spell", "kingdom", "knight", "goblin",
                "prophecy", "sorcerer"),
    "horror": ("ghost", "zombie", "vampire", "haunted", "nightmare", "monster", "scream", "crypt", "curse", "demon",
               "graveyard", "fear"),
    "science": ("experiment", "laboratory", "molecule", "theory", "physics", "chemistry", "atom", "research",
                "hypothesis", "microscope", "scientist", "formula"),
    "history": ("empire", "ancient", "dynasty", "pharaoh", "medieval", "revolution", "monarch", "archive", "century",
                "relic", "emperor", "colony"),
    "gardening": ("garden", "flower", "seed", "soil", "tulip", "rose", "compost", "shovel", "greenhouse", "orchard",
                  "blossom", "hedge"),
    "travel": ("journey", "passport", "airport", "luggage", "tourist", "hotel", "voyage", "map", "destination",
               "backpack", "cruise", "flight"),
    "finance": ("money", "stock", "investor", "bank", "market", "profit", "budget", "loan", "dividend", "trader",
                "wealth", "currency"),
    "medicine": ("doctor", "hospital", "nurse", "surgery", "patient", "vaccine", "clinic", "diagnosis", "therapy",
                 "medicine", "pharmacy", "virus"),
    "animals": ("lion", "tiger", "elephant", "zebra", "giraffe", "monkey", "safari", "jungle", "wolf", "bear", "fox",
                "leopard"),
    "cars": ("engine", "racing", "driver", "wheel", "motor", "garage", "highway", "speed", "turbo", "sedan",
             "chassis", "gearbox"),
    "computers": ("software", "computer", "algorithm", "code", "programmer", "keyboard", "server", "network", "robot",
                  "database", "internet", "processor"),
    "fashion": ("dress", "designer", "runway", "model", "fabric", "jacket", "boutique", "silk", "style", "shoes",
                "tailor", "couture"),
    "art": ("painting", "canvas", "sculpture", "gallery", "artist", "portrait", "museum", "brush", "easel", "mural",
            "sketch", "masterpiece"),
    "politics": ("election", "president", "senate", "vote", "campaign", "minister", "parliament", "policy",
                 "democracy", "debate", "governor", "law"),
    "farming": ("tractor", "harvest", "barn", "wheat", "cattle", "farmer", "field", "crop", "pasture", "plough",
                "dairy", "hay"),
    "weather": ("storm", "rain", "thunder", "snow", "hurricane", "cloud", "lightning", "forecast", "tornado", "wind",
                "blizzard", "drought"),
    "mountains": ("summit", "climber", "glacier", "peak", "avalanche", "cliff", "hiking", "ridge", "alpine", "valley",
                  "rope", "canyon"),
    "religion": ("temple", "prayer", "church", "monk", "faith", "priest", "pilgrim", "saint", "scripture",
                 "cathedral", "sermon", "altar"),
    "childhood": ("toy", "school", "teacher", "playground", "puppet", "cartoon", "nursery", "kid", "crayon",
                  "lollipop", "birthday", "balloon"),
    "crime": ("gangster", "heist", "robbery", "prison", "police", "smuggler", "mafia", "thief", "bandit", "cartel",
              "jail", "ransom"),
    "western": ("cowboy", "sheriff", "saloon", "ranch", "horse", "desert", "outlaw", "revolver", "frontier",
                "stagecoach", "lasso", "prairie"),
    "comedy": ("joke", "laughter", "clown", "comedian", "prank", "parody", "sitcom", "humor", "gag", "satire",
               "jester", "banter"),
    "family": ("mother", "father", "daughter", "son", "grandmother", "sister", "brother", "home", "parent", "cousin",
               "household", "reunion"),
    "dance": ("ballet", "dancer", "tango", "waltz", "choreography", "salsa", "disco", "ballroom", "pirouette",
              "rehearsal", "tutu", "stage"),
    "architecture": ("building", "tower", "bridge", "skyscraper", "architect", "column", "arch", "facade",
                     "blueprint", "concrete", "palace", "dome"),
    "drinks": ("wine", "beer", "whiskey", "cocktail", "brewery", "vineyard", "bartender", "coffee", "tea", "espresso",
               "champagne", "pub"),
    "photography": ("camera", "lens", "photograph", "shutter", "photographer", "exposure", "tripod", "flash",
                    "darkroom", "zoom", "snapshot", "focus"),
    "literature": ("novel", "poet", "poem", "author", "library", "chapter", "manuscript", "book", "fiction", "writer",
                   "verse", "sonnet"),
    "spy": ("agent", "spy", "espionage", "cipher", "embassy", "disguise", "gadget", "traitor", "undercover",
            "surveillance", "mission", "codename"),
    "pirates": ("pirate", "treasure", "ship", "captain", "parrot", "island", "cannon", "plunder", "buccaneer",
                "anchor", "compass", "galleon"),
    "superheroes": ("hero", "villain", "cape", "mask", "superpower", "sidekick", "rescue", "vigilante", "costume",
                    "comic", "laser", "shield"),
    "fitness": ("gym", "workout", "muscle", "marathon", "yoga", "runner", "athlete", "exercise", "sweat", "stretch",
                "treadmill", "cardio"),
}
WORDS_PER_TOPIC = 12
# Words that say nothing about a topic: they make texts of one topic differ without adding signal.
NOISE_WORDS = ("classic", "new", "complete", "deluxe", "ultimate", "original", "special", "little", "great", "modern",
               "golden", "silent", "hidden", "last", "first", "lost", "endless", "bright", "simple", "perfect", "true",
               "grand", "wild", "quiet", "final", "young", "old", "eternal", "strange", "secret")
KINDS = ("story", "guide", "tale", "chronicle", "collection", "edition", "volume", "series")
FIRST_NAMES = ("Ada", "Ben", "Clara", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko", "Liam",
               "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wei", "Yara")
LAST_NAMES = ("Moreno", "Schmidt", "Okafor", "Tanaka", "Novak", "Silva", "Berg", "Costa", "Dubois", "Evans",
              "Fischer", "Haddad", "Ivanova", "Jensen", "Kowalski", "Larsen", "Mehta", "Nakamura", "Olsen", "Petrov")
PUBLISHER_SUFFIXES = ("Studios", "Press", "Works", "Media", "House", "Labs", "Pictures", "Records", "Books", "Games")

VOCABULARY = tuple(word for words in TOPICS.values() for word in words)  # topic t owns a block of WORDS_PER_TOPIC

BASE = "https://synth.kgrec.example/"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
GENRE, CREATOR, PUBLISHER, KEYWORD = (f"http://schema.org/{name}" for name in ("genre", "creator", "publisher",
                                                                               "keywords"))
# Share of the entity links per relation; creators and publishers have this many items each on average.
LINK_SHARES = {CREATOR: 0.4, PUBLISHER: 0.3, KEYWORD: 0.3}
ITEMS_PER_ENTITY = {CREATOR: 3.0, PUBLISHER: 10.0}
ON_TOPIC_ENTITY = 0.85  # a creator or publisher mostly works in one topic
TIME_START, TIME_SPAN = 1_600_000_000, 3 * 365 * 24 * 3600
MAX_DRAW_ROUNDS = 20
CHUNK_ROWS = 1 << 13  # lines formatted at a time: a chunk's byte matrix stays in cache (2-3x faster than 1 << 18)
PAD = 0xFF  # never a byte of UTF-8 text


@dataclass(frozen=True)
class SynthConfig:
    """The knobs of one synthetic bundle."""

    users: int
    items: int
    interactions: int  # distinct (user, item) pairs before the split
    triples: int  # approximate size of kg.nt
    seed: int = 2026
    topics: int = 32
    popularity_exponent: float = 1.0  # Zipf exponent: the slope of log count against log popularity rank
    popularity_mix: float = 0.2  # share of interactions drawn from global popularity instead of an interest
    max_interests: int = 3  # each user has 1..max_interests interest topics
    second_topic_share: float = 0.3  # share of items with a second topic
    cold_share: float = 0.1  # share of the items with interactions that is held out as cold items
    valid_share: float = 0.1
    test_share: float = 0.1
    tag_share: float = 0.05  # share of train interactions that carry a tag (0: no tags.tsv)
    activity_sigma: float = 1.0  # log-normal spread of the number of interactions per user


@dataclass
class _Catalogue:
    """Each item's topics and Zipf weight; `second` is -1 for single-topic items."""

    main: np.ndarray
    second: np.ndarray
    weight: np.ndarray

    @property
    def side(self) -> np.ndarray:
        """The second topic, or the main one again: texts and tags draw from it either way."""
        return np.where(self.second >= 0, self.second, self.main)


def check_config(config: SynthConfig) -> None:
    """Bad arguments are refused before any work, naming the option and what it accepts."""
    for name in ("users", "items", "interactions", "triples"):
        if getattr(config, name) < 1:
            raise KgrecError(f"--{name} must be a positive integer, got {getattr(config, name)}")
    if not 1 <= config.topics <= len(TOPICS):
        raise KgrecError(f"--topics must be between 1 and {len(TOPICS)} (the built-in vocabularies), "
                         f"got {config.topics}")
    if config.max_interests < 1:
        raise KgrecError(f"--max-interests must be at least 1, got {config.max_interests}")
    for name in ("popularity_exponent", "activity_sigma"):
        if getattr(config, name) < 0:
            raise KgrecError(f"{_option(name)} must be >= 0, got {getattr(config, name)}")
    for name in ("popularity_mix", "second_topic_share", "tag_share"):
        if not 0 <= getattr(config, name) <= 1:
            raise KgrecError(f"{_option(name)} must be in [0, 1], got {getattr(config, name)}")
    for name in ("cold_share", "valid_share", "test_share"):
        if not 0 <= getattr(config, name) < 1:
            raise KgrecError(f"{_option(name)} must be in [0, 1), got {getattr(config, name)}")
    if config.valid_share + config.test_share >= 1:
        raise KgrecError("--valid-share + --test-share must be below 1")
    if config.interactions < config.users:
        raise KgrecError(f"--interactions ({config.interactions}) must be at least --users ({config.users}): "
                         "every user has at least one interaction")
    if config.interactions > config.users * config.items // 2:
        raise KgrecError(f"--interactions ({config.interactions}) must be at most half of users x items "
                         f"({config.users * config.items // 2}): interactions are distinct (user, item) pairs")
    needed = int(config.items * (2 + config.second_topic_share)) + config.topics
    if config.triples < needed:
        raise KgrecError(f"--triples ({config.triples}) is too small: the labels and categories of {config.items} "
                         f"items alone take about {needed}")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def generate_bundle(config: SynthConfig, out: str | Path) -> dict[str, int]:
    """Write a bundle (the format of shared/datasets/README.md) to `out`; returns the rows written per file."""
    check_config(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    catalogue = _catalogue(config, rng)
    sampler = _ItemSampler(catalogue, config.topics)
    interests, interest_weights = _interests(config, sampler, rng)
    users, items = _interactions(config, sampler, interests, interest_weights, rng)
    timestamps = TIME_START + rng.integers(0, TIME_SPAN, size=len(users))
    splits, cold_items = split_interactions(users, items, timestamps, strategy="random",
                                            valid_share=config.valid_share, test_share=config.test_share,
                                            cold_item_share=config.cold_share, seed=config.seed)
    written = {f"{name}.tsv": _write(out / f"{name}.tsv", ("user_id\titem_id\ttimestamp",),
                                     ("u", split.users + 1, "\ti", split.items + 1, "\t", split.timestamps)) - 1
               for name, split in splits.items()}
    written["cold_items.txt"] = _write(out / "cold_items.txt", ("i", cold_items + 1))
    title, text = _item_texts(catalogue, rng)
    numbers = np.arange(1, config.items + 1)
    written["items.tsv"] = _write(out / "items.tsv", ("item_id\tentity\ttitle\ttext",),
                                  ("i", numbers, f"\t{BASE}item/", numbers, "\t", *title, "\t", *text)) - 1
    written["kg.nt"] = _write(out / "kg.nt", *_kg(config, catalogue, title, rng))
    if config.tag_share > 0:
        written["tags.tsv"] = _write(out / "tags.tsv", ("user_id\titem_id\ttag",),
                                     _tags(config, splits["train"], catalogue, interests, rng)) - 1
    return written


def _catalogue(config: SynthConfig, rng: np.random.Generator) -> _Catalogue:
    """Zipf weights over a random popularity order, so that item ids say nothing about popularity."""
    weight = (rng.permutation(config.items) + 1.0) ** -config.popularity_exponent
    main = rng.integers(config.topics, size=config.items)
    has_second = (rng.random(config.items) < config.second_topic_share) & (config.topics > 1)
    other = (main + rng.integers(1, max(config.topics, 2), size=config.items)) % config.topics
    return _Catalogue(main, np.where(has_second, other, -1), weight)


class _InverseCdf:
    """Inverse CDF sampling with a guide table (Chen 1974): a draw starts at its bucket's first candidate
    and steps on, one or two steps on average, where a binary search costs a cache miss per level on
    big tables. Returns what `upper.searchsorted(targets, side="right")` would (clamped to the last index).
    """

    def __init__(self, upper: np.ndarray):
        self.upper, self.buckets = upper, 2 * len(upper)
        # A hair below each bucket's edge: a target that rounds into a bucket never starts past its answer.
        # The extra last bucket takes the targets that round up to upper[-1].
        edges = np.arange(self.buckets + 1) * (upper[-1] / self.buckets) * (1 - 1e-12)
        self.guide = np.minimum(np.searchsorted(upper, edges, side="right"), len(upper) - 1)

    def position(self, targets: np.ndarray) -> np.ndarray:
        """The first index whose upper bound exceeds each target."""
        last = len(self.upper) - 1
        position = self.guide[(targets * (self.buckets / self.upper[-1])).astype(np.int64)]
        pending = np.flatnonzero(self.upper[position] <= targets)
        while len(pending):
            position[pending] = np.minimum(position[pending] + 1, last)
            pending = pending[(self.upper[position[pending]] <= targets[pending]) & (position[pending] < last)]
        return position


class _ItemSampler:
    """Items in proportion to their weight, over the catalogue or within one topic: inverse CDF over the
    topic memberships (a two-topic item splits its weight between its topics)."""

    def __init__(self, catalogue: _Catalogue, topics: int):
        has_second = catalogue.second >= 0
        items = np.concatenate([np.arange(len(catalogue.main)), np.flatnonzero(has_second)])
        topic_of = np.concatenate([catalogue.main, catalogue.second[has_second]])
        weights = np.concatenate([np.where(has_second, 0.5, 1.0) * catalogue.weight,
                                  0.5 * catalogue.weight[has_second]])
        order = np.argsort(topic_of, kind="stable")
        self.items, self.upper = items[order], np.cumsum(weights[order])  # membership k ends at upper[k]
        self.ends = np.cumsum(np.bincount(topic_of, minlength=topics))
        self.starts = self.ends - np.bincount(topic_of, minlength=topics)
        bounds = np.r_[0.0, self.upper]
        self.mass_before, self.mass = bounds[self.starts], bounds[self.ends] - bounds[self.starts]
        self.inverse = _InverseCdf(self.upper)

    def popular(self, size: int, rng: np.random.Generator) -> np.ndarray:
        return self.items[self.inverse.position(rng.random(size) * self.upper[-1])]

    def in_topics(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        position = self.inverse.position(self.mass_before[topics] + rng.random(len(topics)) * self.mass[topics])
        return self.items[np.clip(position, self.starts[topics], self.ends[topics] - 1)]  # rounding at the edges


def _interests(config: SynthConfig, sampler: _ItemSampler,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each user's interest topics and their cumulative mixture weights, both users x max_interests.

    Topics are picked in proportion to their popularity mass, which keeps every item's expected count
    proportional to its own weight (and never picks an empty topic).
    """
    interests = rng.choice(config.topics, size=(config.users, config.max_interests),
                           p=sampler.mass / sampler.mass.sum())
    count = rng.integers(1, config.max_interests + 1, size=config.users)
    mixture = rng.gamma(1.0, size=interests.shape) * (np.arange(config.max_interests) < count[:, None])
    cumulative = np.cumsum(mixture, axis=1)
    return interests, cumulative / cumulative[:, -1:]


def _interactions(config: SynthConfig, sampler: _ItemSampler, interests: np.ndarray, interest_weights: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Exactly `interactions` distinct (user, item) pairs, sorted by user then item.

    A pair drawn twice counts once, so the shortfall is drawn again (users by activity) until there
    are enough; the surplus of the last round is dropped at random.
    """
    activity = rng.lognormal(0.0, config.activity_sigma, size=config.users)
    activity /= activity.sum()
    extra = rng.multinomial(config.interactions - config.users, activity)
    users = np.repeat(np.arange(config.users), 1 + extra)  # everyone has at least one interaction
    cdf = np.cumsum(activity)
    by_activity = _InverseCdf(cdf / cdf[-1])  # the CDF that rng.choice(p=activity) searches
    pairs = np.zeros(0, dtype=np.int64)
    for _ in range(MAX_DRAW_ROUNDS):
        items = np.empty(len(users), dtype=np.int64)
        popular = rng.random(len(users)) < config.popularity_mix
        items[popular] = sampler.popular(int(popular.sum()), rng)
        items[~popular] = sampler.in_topics(_pick_interest(users[~popular], interests, interest_weights, rng), rng)
        merged, new = _merge(pairs, users * config.items + items)
        surplus = len(merged) - config.interactions
        if surplus >= 0:
            merged = np.delete(merged, rng.choice(new, size=surplus, replace=False))
            return np.divmod(merged, config.items)
        gained_per_draw = max(len(new) / len(users), 0.01)
        pairs = merged
        draws = min(int(-surplus / gained_per_draw * 1.1) + 16, 10 * config.interactions)
        # np.sort(rng.choice(config.users, size=draws, p=activity)), without a binary search per draw and a sort
        drawn = by_activity.position(rng.random(draws))
        users = np.repeat(np.arange(config.users), np.bincount(drawn, minlength=config.users))
    raise KgrecError(f"could not draw {config.interactions} distinct (user, item) pairs in {MAX_DRAW_ROUNDS} rounds: "
                     "popularity is too concentrated for this density (lower --popularity-exponent or "
                     "--interactions, or raise --users or --items)")


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values: numpy 2.4's np.unique (hash based) is ~10x slower than a sort on big int arrays."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]]


def _merge(old: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct union of sorted distinct `old` and `values`, and the positions in it of the values
    `old` lacks: the new values are sorted and inserted, the old ones never sorted again."""
    new = _distinct(values)
    if not len(old):
        return new, np.arange(len(new))
    at = np.searchsorted(old, new)
    unseen = old[np.minimum(at, len(old) - 1)] != new
    new, at = new[unseen], at[unseen]
    positions = at + np.arange(len(new))
    merged, is_old = np.empty(len(old) + len(new), dtype=new.dtype), np.ones(len(old) + len(new), dtype=bool)
    is_old[positions] = False  # np.insert, without its argsort of the positions
    merged[positions], merged[is_old] = new, old
    return merged, positions


def _pick_interest(users: np.ndarray, interests: np.ndarray, interest_weights: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """One interest per draw, by the user's mixture weights (a column at a time: draws x interests is big)."""
    draw = rng.random(len(users))
    slot = np.zeros(len(users), dtype=np.int64)
    for column in range(interests.shape[1] - 1):
        slot += draw > np.ascontiguousarray(interest_weights[:, column])[users]  # 1-D gathers beat 2-D ones
    return interests.ravel()[users * interests.shape[1] + slot]


@dataclass
class _Words:
    """A text column: row `index[k]` of `table`, a vocabulary as a byte matrix padded with PAD."""

    table: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows: slice) -> _Words:
        return _Words(self.table, self.index[rows])


def _table(words: Sequence[str]) -> np.ndarray:
    encoded = [word.encode() for word in words]
    table = np.full((len(encoded), max(map(len, encoded))), PAD, dtype=np.uint8)
    for row, word in enumerate(encoded):
        table[row, :len(word)] = np.frombuffer(word, dtype=np.uint8)
    return table


WORD_TABLE = _table(VOCABULARY)
TITLE_WORD_TABLE = _table([word.capitalize() for word in VOCABULARY])


def _topic_words(topics: np.ndarray, rng: np.random.Generator, table: np.ndarray = WORD_TABLE) -> _Words:
    """One random word of each given topic."""
    return _Words(table, topics * WORDS_PER_TOPIC + rng.integers(WORDS_PER_TOPIC, size=len(topics)))


def _choice(words: Sequence[str], size: int, rng: np.random.Generator) -> _Words:
    return _Words(_table(words), rng.integers(len(words), size=size))


def _item_texts(catalogue: _Catalogue, rng: np.random.Generator) -> tuple[tuple, tuple]:
    """Title "Noise Word Word" and a sentence of topic words, noise words and one word of a random topic."""
    size, side = len(catalogue.main), catalogue.side
    title = (_choice([word.capitalize() for word in NOISE_WORDS], size, rng), " ",
             _topic_words(catalogue.main, rng, TITLE_WORD_TABLE), " ", _topic_words(side, rng, TITLE_WORD_TABLE))
    names = list(TOPICS)
    also = _Words(_table([""] + [f", {name}" for name in names]), catalogue.second + 1)  # "" for one topic
    text = (*title, ". A ", _choice(NOISE_WORDS, size, rng), " ", _choice(KINDS, size, rng), " of ",
            _topic_words(catalogue.main, rng), ", ", _topic_words(catalogue.main, rng), " and ",
            _topic_words(side, rng), ". See also: ", _topic_words(rng.integers(len(TOPICS), size=size), rng),
            ". Topics: ", _Words(_table(names), catalogue.main), also, ".")
    return title, text


def _kg(config: SynthConfig, catalogue: _Catalogue, title: tuple, rng: np.random.Generator) -> list[tuple]:
    """Item labels and genres (topics are categories), then creator/publisher/keyword links up to ~`triples`.

    Returns the sections of kg.nt for `_write`; every entity IRI is <BASE kind/number>.
    """
    items = np.arange(1, config.items + 1)
    has_second = np.flatnonzero(catalogue.second >= 0)
    topic_names = _Words(_table(list(TOPICS)), np.arange(config.topics))
    sections = [_triples("item", items, RDFS_LABEL, *title),
                _triples("item", items, GENRE, "topic", catalogue.main + 1),
                _triples("item", has_second + 1, GENRE, "topic", catalogue.second[has_second] + 1),
                _triples("topic", np.arange(1, config.topics + 1), RDFS_LABEL, topic_names)]
    # A link's entity sometimes needs a label too: budget the links so that the total lands near `triples`.
    fixed = 2 * config.items + len(has_second) + config.topics
    left = config.triples - fixed - config.topics * WORDS_PER_TOPIC
    labels_per_link = sum(LINK_SHARES[relation] / per_entity for relation, per_entity in ITEMS_PER_ENTITY.items())
    links = max(left, 0) / (1 + labels_per_link)
    for relation, share in LINK_SHARES.items():
        sections += _links(config, catalogue, relation, int(links * share), rng)
    return sections


def _links(config: SynthConfig, catalogue: _Catalogue, relation: str, count: int,
           rng: np.random.Generator) -> list[tuple]:
    """`count` item -> entity links of one relation (fewer after merging repeats), and the entities' labels.

    Keywords are the words of the item's main topic. Creators and publishers belong to a topic, and
    an item's are mostly of its main topic; squared uniforms give a few prolific ones and many small.
    """
    linked = rng.integers(config.items, size=count)
    if relation == KEYWORD:
        per_topic = WORDS_PER_TOPIC
        entity = catalogue.main[linked] * per_topic + rng.integers(per_topic, size=count)
    else:
        per_topic = max(int(count / ITEMS_PER_ENTITY[relation] / config.topics), 1)
        topic = np.where(rng.random(count) < ON_TOPIC_ENTITY, catalogue.main[linked],
                         rng.integers(config.topics, size=count))
        entity = topic * per_topic + (per_topic * rng.random(count) ** 2).astype(np.int64)
    entities = config.topics * per_topic
    linked, entity = np.divmod(_distinct(linked * entities + entity), entities)
    used = np.flatnonzero(np.bincount(entity, minlength=entities))
    kind = relation.rsplit("/", 1)[1]
    return [_triples("item", linked + 1, relation, kind, entity + 1),
            _triples(kind, used + 1, RDFS_LABEL, *_entity_name(relation, used, per_topic, rng))]


def _entity_name(relation: str, entities: np.ndarray, per_topic: int, rng: np.random.Generator) -> tuple:
    """Keywords are their word; publishers are named after a word of their topic ("Rocket Press"); creators
    get person names."""
    size = len(entities)
    if relation == KEYWORD:
        return (_Words(WORD_TABLE, entities),)
    if relation == PUBLISHER:
        return _topic_words(entities // per_topic, rng, TITLE_WORD_TABLE), " ", _choice(PUBLISHER_SUFFIXES, size, rng)
    return _choice(FIRST_NAMES, size, rng), " ", _choice(LAST_NAMES, size, rng)


def _tags(config: SynthConfig, train: Interactions, catalogue: _Catalogue, interests: np.ndarray,
          rng: np.random.Generator) -> tuple:
    """Tags on train pairs only (held-out pairs keep none): a word of the item's topic that the user likes."""
    rows = np.flatnonzero(rng.random(len(train)) < config.tag_share)
    users, items = train.users[rows], train.items[rows]
    liked_second = (interests[users] == catalogue.second[items, None]).any(axis=1)
    topics = np.where(liked_second, catalogue.second[items], catalogue.main[items])
    return "u", users + 1, "\ti", items + 1, "\t", _topic_words(topics, rng)


def _triples(kind: str, subjects: np.ndarray, predicate: str, *obj) -> tuple:
    """A kg.nt section of subjects <BASE kind/n>: the object is (kind, numbers) for IRIs, else the parts of
    a plain literal (the vocabularies hold no quote or backslash: nothing to escape)."""
    head = (f"<{BASE}{kind}/", subjects, f"> <{predicate}> ")
    if len(obj) == 2 and isinstance(obj[0], str):
        return (*head, f"<{BASE}{obj[0]}/", obj[1], "> .")
    return (*head, '"', *obj, '" .')


def _write(path: Path, *sections: tuple) -> int:
    """Write lines and return how many. A section's parts are joined row by row: constant strings, integer
    columns (in decimal) and _Words; a section of constants is one line."""
    lines = 0
    with open(path, "wb") as handle:
        for parts in sections:
            rows = next((len(part) for part in parts if not isinstance(part, str)), 1)
            for start in range(0, rows, CHUNK_ROWS):
                chunk = [part if isinstance(part, str) else part[start:start + CHUNK_ROWS] for part in parts]
                handle.write(_format(chunk, min(CHUNK_ROWS, rows - start)))
            lines += rows
    return lines


def _format(parts: list, rows: int) -> bytes | np.ndarray:
    """The bytes of `rows` lines: every part fills a fixed-width block of a byte matrix (numbers and words
    padded with PAD), and the padding is cut out row-major.

    The cut costs a boolean mask per run of kept bytes, and bytes.replace per PAD byte (it jumps from one
    to the next with memchr): the latter is twice as fast where PAD is rare (numbers), half as fast where
    it abounds (word columns)."""
    blocks = []
    for part in parts:
        if isinstance(part, str):
            blocks.append(np.broadcast_to(np.frombuffer(part.encode(), dtype=np.uint8), (rows, len(part.encode()))))
        elif isinstance(part, _Words):
            blocks.append(part.table[part.index])
        else:
            blocks.append(_digits(part))
    blocks.append(np.full((rows, 1), ord("\n"), dtype=np.uint8))
    matrix = np.hstack(blocks)
    keep = matrix != PAD
    if np.count_nonzero(keep) > 0.9 * keep.size:
        return matrix.tobytes().replace(bytes([PAD]), b"")
    return matrix[keep]


def _digits(values: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative integers, right-aligned, leading zeros as PAD (uint32 divides fastest)."""
    largest = int(values.max()) if len(values) else 0
    digits = np.empty((len(values), len(str(largest))), dtype=np.uint8)
    rest = values.astype(np.uint32 if largest < 2 ** 32 else np.int64)
    for column in range(digits.shape[1] - 1, -1, -1):
        quotient = rest // 10
        digits[:, column] = rest - quotient * 10 + ord("0")
        if column < digits.shape[1] - 1:
            digits[:, column][rest == 0] = PAD
        rest = quotient
    return digits
