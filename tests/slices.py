"""Small but real slices of the shared datasets, so model tests train in seconds."""

from dataclasses import replace

from kgrec.data.dataset import Dataset, Tags


def first_items(data: Dataset, num_items: int) -> Dataset:
    """`data` restricted to items 0..num_items-1 (indices keep their meaning); users are kept."""
    kg = data.kg
    if len(kg.item_entity):
        # Entities of the dropped items stay in the KG, unlabelled, so nothing extra is encoded.
        dropped = set(kg.item_entity[num_items:][kg.item_entity[num_items:] >= 0].tolist())
        labels = [None if entity in dropped else label for entity, label in enumerate(kg.labels)]
        kg = replace(kg, item_entity=kg.item_entity[:num_items], labels=labels)
    tagged = data.tags.items < num_items
    tags = Tags(data.tags.users[tagged], data.tags.items[tagged], data.tags.tags[tagged], data.tags.names)
    return Dataset(f"{data.name}[:{num_items}]", data.user_ids, data.item_ids[:num_items], data.item_titles[:num_items],
                   data.item_texts[:num_items],
                   {name: split.take(split.items < num_items) for name, split in data.splits.items()},
                   data.cold_items[data.cold_items < num_items], kg, tags)


def fit_kgrec(data: Dataset, text_features, epochs: int, **options):
    """kgrec trained on `data` with early stopping on valid recall@20, ready to score."""
    import torch

    from kgrec.evaluate.metrics import evaluate
    from kgrec.models.kgrec import KGRec
    from kgrec.train.loop import TrainerConfig, train

    torch.manual_seed(0)
    model = KGRec(data, text_features, **options)
    validate = lambda: evaluate(model.score, data, "valid", ks=(20,), n_recs=20).metrics["recall@20"]
    train(model, data, TrainerConfig(epochs=epochs, batch_size=4096, lr=5e-3, patience=3), validate)
    model.prepare_scoring()
    return model
