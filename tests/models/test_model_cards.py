"""Model cards: every registered config carries one, create_model attaches it, and the records that
name models (lectures' paper configs) point at registered configs with cards."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from posecourse.lectures import LECTURES
from posecourse.models import ModelCard, create_model, list_models, model_card, register_configs
from posecourse.train.weights import NORMS

OUTPUTS = {"coordinates", "heatmaps", "paf+heatmaps"}


@pytest.mark.parametrize("name", list_models())
def test_every_registered_config_has_a_card_that_create_model_attaches(name):
    card = model_card(name)
    assert isinstance(card, ModelCard) and card.output in OUTPUTS
    assert len(card.input_size) == 2 and all(isinstance(v, int) and v >= 32 for v in card.input_size)
    assert card.input_norm is None or card.input_norm in NORMS
    # facts of official weights only where there is an official count (and the code it was measured on)
    assert (card.official_params is None) == (card.source is None)
    if card.official_params is None:
        assert card.input_norm is None and not card.integer_centred
    assert card.official_params is None or card.paper
    with torch.device("meta"):
        model = create_model(name)
    assert model.card is card


def test_the_card_matches_what_the_model_returns():
    """The card's ``output`` is what ``model(images)`` returns at its input size (meta device)."""
    kinds = {"coordinates": lambda o: isinstance(o, torch.Tensor) and o.shape[-1] == 2,
             "heatmaps": lambda o: isinstance(o, list) and all(isinstance(t, torch.Tensor) and t.dim() == 4 for t in o),
             "paf+heatmaps": lambda o: isinstance(o, list) and all(set(d) == {"paf", "heatmaps"} for d in o)}
    for name in list_models():
        card = model_card(name)
        with torch.device("meta"):
            out = create_model(name)(torch.empty(1, 3, *card.input_size))
        assert kinds[card.output](out), name


def test_cards_are_frozen_and_unknown_names_are_refused():
    with pytest.raises(dataclasses.FrozenInstanceError):
        model_card("hrnet_w32").input_size = (64, 64)
    with pytest.raises(ValueError, match="unknown model 'hrnet_w31'"):
        model_card("hrnet_w31")


@pytest.mark.parametrize("name", sorted(LECTURES))
def test_each_lecture_names_a_paper_config_of_its_model_family(name):
    lec = LECTURES[name]
    paper, course = model_card(lec.paper_model), model_card(lec.model)
    assert lec.paper_model in list_models() and paper.paper and not course.paper
    assert paper.output == course.output
    with torch.device("meta"):
        assert type(create_model(lec.paper_model)) is type(create_model(lec.model))


def test_a_config_without_its_card_is_refused_by_name():
    with pytest.raises(ValueError, match=r"Linear: configs and cards name different models: \['extra_linear'\]"):
        register_configs(torch.nn.Linear, {"extra_linear": dict(in_features=2, out_features=2)}, {})
    assert "extra_linear" not in list_models()
