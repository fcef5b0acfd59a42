"""Synthetic bundles: scale benchmarks and stand-ins for catalogues the project has never seen.

The generative story mirrors what makes real data hard. Items have Zipf-like popularity and one or
two topics; users have a few topical interests and draw each interaction either from an interest
(items of that topic, weighted by popularity) or from global popularity. Users pick interests in
proportion to the topic's popularity mass, so an item's expected count stays proportional to its
Zipf weight: the rank-count curve keeps the configured exponent. Texts (real English words of the
item's topics plus noise), KG entities (creators, publishers, keywords of the item's topic) and tags
all carry the topic, so that text and graph signals can reach the tail and cold items where IDs cannot.

Everything is vectorised numpy, and files are written as Arrow string columns, never row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    interests, interest_weights = _interests(config, catalogue, rng)
    users, items = _interactions(config, catalogue, interests, interest_weights, rng)
    timestamps = TIME_START + rng.integers(0, TIME_SPAN, size=len(users))
    splits, cold_items = split_interactions(users, items, timestamps, strategy="random",
                                            valid_share=config.valid_share, test_share=config.test_share,
                                            cold_item_share=config.cold_share, seed=config.seed)
    written = {f"{name}.tsv": _write_table(out / f"{name}.tsv", {
        "user_id": _ids("u", split.users), "item_id": _ids("i", split.items),
        "timestamp": pc.cast(pa.array(split.timestamps), pa.string())}) for name, split in splits.items()}
    written["cold_items.txt"] = _write_lines(out / "cold_items.txt", _ids("i", cold_items))
    titles, texts = _item_texts(catalogue, rng)
    item_iris = _iris("item/", _numbers(np.arange(config.items)))
    written["items.tsv"] = _write_table(out / "items.tsv", {
        "item_id": _ids("i", np.arange(config.items)), "entity": pc.utf8_slice_codeunits(item_iris, 1, -1),
        "title": titles, "text": texts})
    written["kg.nt"] = _write_lines(out / "kg.nt", *_kg(config, catalogue, item_iris, titles, rng))
    if config.tag_share > 0:
        written["tags.tsv"] = _write_tags(out / "tags.tsv", config, splits["train"], catalogue, interests, rng)
    return written


def _catalogue(config: SynthConfig, rng: np.random.Generator) -> _Catalogue:
    """Zipf weights over a random popularity order, so that item ids say nothing about popularity."""
    rank = rng.permutation(config.items)
    weight = (rank + 1.0) ** -config.popularity_exponent
    main = rng.integers(config.topics, size=config.items)
    has_second = (rng.random(config.items) < config.second_topic_share) & (config.topics > 1)
    other = (main + rng.integers(1, max(config.topics, 2), size=config.items)) % config.topics
    return _Catalogue(main, np.where(has_second, other, -1), weight)


def _memberships(catalogue: _Catalogue) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item, topic, weight) per topic membership; a two-topic item splits its weight between them."""
    has_second = catalogue.second >= 0
    items = np.concatenate([np.arange(len(catalogue.main)), np.flatnonzero(has_second)])
    topics = np.concatenate([catalogue.main, catalogue.second[has_second]])
    weights = np.concatenate([np.where(has_second, 0.5, 1.0) * catalogue.weight, 0.5 * catalogue.weight[has_second]])
    return items, topics, weights


def _interests(config: SynthConfig, catalogue: _Catalogue, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each user's interest topics and their cumulative mixture weights, both users x max_interests.

    Topics are picked in proportion to their popularity mass, which keeps every item's expected count
    proportional to its own weight.
    """
    _, topics, weights = _memberships(catalogue)
    mass = np.bincount(topics, weights=weights, minlength=config.topics)
    interests = rng.choice(config.topics, size=(config.users, config.max_interests), p=mass / mass.sum())
    count = rng.integers(1, config.max_interests + 1, size=config.users)
    mixture = rng.gamma(1.0, size=interests.shape) * (np.arange(config.max_interests) < count[:, None])
    cumulative = np.cumsum(mixture, axis=1)
    return interests, cumulative / cumulative[:, -1:]


def _interactions(config: SynthConfig, catalogue: _Catalogue, interests: np.ndarray, interest_weights: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Exactly `interactions` distinct (user, item) pairs, sorted by user then item.

    A pair drawn twice counts once, so the shortfall is drawn again (users by activity) until there
    are enough; the surplus of the last round is dropped at random.
    """
    activity = rng.lognormal(0.0, config.activity_sigma, size=config.users)
    activity /= activity.sum()
    extra = rng.multinomial(config.interactions - config.users, activity)
    users = np.repeat(np.arange(config.users), 1 + extra)  # everyone has at least one interaction
    sampler = _ItemSampler(catalogue, config.topics)
    pairs = np.zeros(0, dtype=np.int64)
    for _ in range(MAX_DRAW_ROUNDS):
        items = np.empty(len(users), dtype=np.int64)
        popular = rng.random(len(users)) < config.popularity_mix
        items[popular] = sampler.popular(int(popular.sum()), rng)
        items[~popular] = sampler.in_topics(_pick_interest(users[~popular], interests, interest_weights, rng), rng)
        merged = _distinct(np.concatenate([pairs, users * config.items + items]))
        surplus = len(merged) - config.interactions
        if surplus >= 0:
            merged = np.delete(merged, rng.choice(_new(merged, pairs), size=surplus, replace=False))
            return np.divmod(merged, config.items)
        gained_per_draw = max((len(merged) - len(pairs)) / len(users), 0.01)
        pairs = merged
        draws = min(int(-surplus / gained_per_draw * 1.1) + 16, 10 * config.interactions)
        users = np.sort(rng.choice(config.users, size=draws, p=activity))
    raise KgrecError(f"could not draw {config.interactions} distinct (user, item) pairs in {MAX_DRAW_ROUNDS} rounds: "
                     "popularity is too concentrated for this density (lower --popularity-exponent or "
                     "--interactions, or raise --users or --items)")


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values: numpy 2.4's np.unique (hash based) is ~10x slower than a sort on big int arrays."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]]


def _new(merged: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Positions in sorted `merged` of the values that sorted `old` lacks."""
    position = np.minimum(np.searchsorted(old, merged), max(len(old) - 1, 0))
    return np.flatnonzero(old[position] != merged) if len(old) else np.arange(len(merged))


def _pick_interest(users: np.ndarray, interests: np.ndarray, interest_weights: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """One interest per draw, by the user's mixture weights (a column at a time: draws x interests is big)."""
    draw = rng.random(len(users))
    slot = np.zeros(len(users), dtype=np.int64)
    for column in range(interests.shape[1] - 1):
        slot += draw > interest_weights[users, column]
    return interests[users, slot]


class _ItemSampler:
    """Items in proportion to weight, globally or within a topic: inverse CDF, one searchsorted per batch."""

    def __init__(self, catalogue: _Catalogue, topics: int):
        items, topic_of, weights = _memberships(catalogue)
        order = np.argsort(topic_of, kind="stable")
        self.items, self.cumulative = items[order], np.cumsum(weights[order])
        self.ends = np.searchsorted(topic_of[order], np.arange(topics), side="right")
        self.starts = np.r_[0, self.ends[:-1]]
        mass_up_to = np.r_[0.0, self.cumulative]
        self.mass_before, self.mass = mass_up_to[self.starts], mass_up_to[self.ends] - mass_up_to[self.starts]
        self.global_cumulative = np.cumsum(catalogue.weight)

    def popular(self, size: int, rng: np.random.Generator) -> np.ndarray:
        target = rng.random(size) * self.global_cumulative[-1]
        return np.minimum(np.searchsorted(self.global_cumulative, target, side="right"),
                          len(self.global_cumulative) - 1)

    def in_topics(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        target = self.mass_before[topics] + rng.random(len(topics)) * self.mass[topics]
        position = np.searchsorted(self.cumulative, target, side="right")
        return self.items[np.clip(position, self.starts[topics], self.ends[topics] - 1)]


def _item_texts(catalogue: _Catalogue, rng: np.random.Generator) -> tuple[pa.Array, pa.Array]:
    """Title "Noise Word Word" and a sentence of topic words, noise words and one word of a random topic."""
    size = len(catalogue.main)
    side = catalogue.side

    def topic_word(topics: np.ndarray) -> pa.Array:
        return _topic_words(topics, rng)

    def noise(words: tuple[str, ...]) -> pa.Array:
        return pa.array(words).take(rng.integers(len(words), size=size))

    title = pc.utf8_title(pc.binary_join_element_wise(noise(NOISE_WORDS), topic_word(catalogue.main),
                                                      topic_word(side), " "))
    names = pa.array(list(TOPICS))
    topics = pc.if_else(pa.array(catalogue.second >= 0),
                        pc.binary_join_element_wise(names.take(catalogue.main), names.take(side), ", "),
                        names.take(catalogue.main))
    stray = topic_word(rng.integers(len(TOPICS), size=size))
    text = pc.binary_join_element_wise(
        title, ". A ", noise(NOISE_WORDS), " ", noise(KINDS), " of ", topic_word(catalogue.main), ", ",
        topic_word(catalogue.main), " and ", topic_word(side), ". See also: ", stray, ". Topics: ", topics, ".", "")
    return title, text


def _kg(config: SynthConfig, catalogue: _Catalogue, item_iris: pa.Array, titles: pa.Array,
        rng: np.random.Generator) -> list[pa.Array]:
    """Item labels and genres (topics are categories), then creator/publisher/keyword links up to ~`triples`."""
    names = pa.array(list(TOPICS)[: config.topics])
    has_second = np.flatnonzero(catalogue.second >= 0)
    topic_iris = _iris("topic/", names)
    chunks = [_triples(item_iris, RDFS_LABEL, _literals(titles)),
              _triples(item_iris, GENRE, topic_iris.take(catalogue.main)),
              _triples(item_iris.take(has_second), GENRE, topic_iris.take(catalogue.second[has_second])),
              _triples(topic_iris, RDFS_LABEL, _literals(names))]
    # A link's entity sometimes needs a label too: budget the links so that the total lands near `triples`.
    left = config.triples - sum(len(chunk) for chunk in chunks) - config.topics * WORDS_PER_TOPIC
    labels_per_link = sum(LINK_SHARES[relation] / items for relation, items in ITEMS_PER_ENTITY.items())
    links = max(left, 0) / (1 + labels_per_link)
    for relation, share in LINK_SHARES.items():
        chunks += _links(config, catalogue, relation, int(links * share), item_iris, rng)
    return chunks


def _links(config: SynthConfig, catalogue: _Catalogue, relation: str, count: int, item_iris: pa.Array,
           rng: np.random.Generator) -> list[pa.Array]:
    """`count` distinct item -> entity links of one relation (fewer after merging repeats), and the entities' labels.

    Keywords are the words of the item's main topic. Creators and publishers belong to a topic, and
    an item's are mostly of its main topic; squared uniforms give a few prolific ones and many small.
    """
    linked = rng.integers(config.items, size=count)
    if relation == KEYWORD:
        entities = config.topics * WORDS_PER_TOPIC
        entity = catalogue.main[linked] * WORDS_PER_TOPIC + rng.integers(WORDS_PER_TOPIC, size=count)
    else:
        per_topic = max(int(count / ITEMS_PER_ENTITY[relation] / config.topics), 1)
        entities = config.topics * per_topic
        topic = np.where(rng.random(count) < ON_TOPIC_ENTITY, catalogue.main[linked],
                         rng.integers(config.topics, size=count))
        entity = topic * per_topic + (per_topic * rng.random(count) ** 2).astype(np.int64)
    linked, entity = np.divmod(_distinct(linked * entities + entity), entities)
    used = np.flatnonzero(np.bincount(entity, minlength=entities))
    if relation == KEYWORD:
        local, labels = pa.array(VOCABULARY).take(used), pa.array(VOCABULARY).take(used)
    else:
        local, labels = _numbers(used), _entity_names(relation, used // per_topic, rng)
    kind = relation.rsplit("/", 1)[1]
    entity_iris = _iris(f"{kind}/", local)
    position = np.searchsorted(used, entity)
    return [_triples(item_iris.take(linked), relation, entity_iris.take(position)),
            _triples(entity_iris, RDFS_LABEL, _literals(labels))]


def _entity_names(relation: str, topics: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Publishers are named after a word of their topic ("Rocket Press"); creators get person names."""
    size = len(topics)
    if relation == PUBLISHER:
        suffix = pa.array(PUBLISHER_SUFFIXES).take(rng.integers(len(PUBLISHER_SUFFIXES), size=size))
        return pc.binary_join_element_wise(pc.utf8_capitalize(_topic_words(topics, rng)), suffix, " ")
    first = pa.array(FIRST_NAMES).take(rng.integers(len(FIRST_NAMES), size=size))
    last = pa.array(LAST_NAMES).take(rng.integers(len(LAST_NAMES), size=size))
    return pc.binary_join_element_wise(first, last, " ")


def _write_tags(path: Path, config: SynthConfig, train: Interactions, catalogue: _Catalogue, interests: np.ndarray,
                rng: np.random.Generator) -> int:
    """Tags on train pairs only (held-out pairs keep none): a word of the item's topic that the user likes."""
    rows = np.flatnonzero(rng.random(len(train)) < config.tag_share)
    users, items = train.users[rows], train.items[rows]
    liked_second = (interests[users] == catalogue.second[items, None]).any(axis=1)
    topics = np.where(liked_second, catalogue.second[items], catalogue.main[items])
    return _write_table(path, {"user_id": _ids("u", users), "item_id": _ids("i", items),
                               "tag": _topic_words(topics, rng)})


def _topic_words(topics: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """One random word of each given topic."""
    return pa.array(VOCABULARY).take(topics * WORDS_PER_TOPIC + rng.integers(WORDS_PER_TOPIC, size=len(topics)))


def _numbers(indices: np.ndarray) -> pa.Array:
    """1-based numbers as strings: ids and IRIs never show the 0-based index."""
    return pc.cast(pa.array(indices + 1), pa.string())


def _ids(prefix: str, indices: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, _numbers(indices), "")


def _iris(path: str, local: pa.Array) -> pa.Array:
    """N-Triples IRI terms, <BASE path local>."""
    return pc.binary_join_element_wise(f"<{BASE}{path}", local, ">", "")


def _literals(values: pa.Array) -> pa.Array:
    """Plain literals; the vocabularies hold no quote or backslash, so nothing needs escaping."""
    return pc.binary_join_element_wise('"', values, '"', "")


def _triples(subjects: pa.Array, predicate: str, objects: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(subjects, f"<{predicate}>", objects, ".", " ")


def _write_table(path: Path, columns: dict[str, pa.Array]) -> int:
    """A TSV with a header; values never hold a tab, newline or quote, so none is quoted."""
    header = pa.array(["\t".join(columns)])
    return _write_lines(path, header, pc.binary_join_element_wise(*columns.values(), "\t")) - 1


def _write_lines(path: Path, *chunks: pa.Array) -> int:
    """Each string a line, written straight from the Arrow buffers; returns the number of lines."""
    with open(path, "wb") as handle:
        for chunk in chunks:
            if len(chunk) == 0:
                continue
            lines = pc.binary_join_element_wise(chunk, "\n", "")
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
            handle.write(lines.buffers()[2][offsets[0]:offsets[-1]])
    return sum(len(chunk) for chunk in chunks)
