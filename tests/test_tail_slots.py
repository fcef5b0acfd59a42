"""Tail slots against lists written out by hand."""

import torch

from kgrec.models.tail_slots import interleave_tail

INF = float("-inf")


def listed(scores, tail, every, width):
    values, items = interleave_tail(scores, torch.tensor(tail, dtype=torch.bool), every, width)
    return [[item for item, value in zip(row, row_values) if value > INF]
            for row, row_values in zip(items.tolist(), values.tolist())]


def test_every_third_position_holds_the_best_tail_item_outside_the_list():
    scores = torch.tensor([[9.0, 8, 7, 6, 5, 4, 3, 2, 1, 0]])
    tail = [0, 0, 0, 0, 0, 0, 1, 1, 0, 1]
    # Main list = the 4 best (0, 1, 2, 3); slots 3 and 6 take tail items 6 and 7, in score order.
    assert listed(scores, tail, every=3, width=6) == [[0, 1, 6, 2, 3, 7]]


def test_a_tail_item_already_in_the_main_list_is_not_repeated():
    scores = torch.tensor([[9.0, 8, 7, 6, 5, 4, 3, 2, 1, 0]])
    tail = [0, 1, 0, 0, 0, 0, 1, 0, 0, 0]  # item 1 makes the list on its score
    assert listed(scores, tail, every=3, width=6) == [[0, 1, 6, 2, 3, 4]]


def test_spare_slots_go_back_to_the_main_list_and_masked_items_never_appear():
    scores = torch.tensor([[9.0, 8, 7, 6, 5, 4, 3, 2, 1, INF], [INF, 8, 7, 6, 5, 4, 3, 2, 1, 0]])
    tail = [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]  # row 0: item 0 is listed anyway, 9 masked; row 1: 9, not 0
    assert listed(scores, tail, every=3, width=6) == [[0, 1, 2, 3, 4, 5], [1, 2, 9, 3, 4, 5]]


def test_no_tail_or_no_slot_lists_by_score():
    scores = torch.tensor([[1.0, 3, 2]])
    assert listed(scores, [False, False, False], every=2, width=3) == [[1, 2, 0]]
    assert listed(scores, [True, True, True], every=0, width=3) == [[1, 2, 0]]
    assert listed(scores, [True, True, True], every=5, width=3) == [[1, 2, 0]]


def test_short_candidate_pools_give_short_lists():
    scores = torch.tensor([[INF, 2.0, INF, 1.0]])
    assert listed(scores, [0, 0, 0, 1], every=2, width=4) == [[1, 3]]


def test_a_shorter_list_is_the_start_of_a_longer_one():
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(50, 300, generator=generator)
    scores[scores < -2] = INF  # some masked items
    tail = torch.rand(300, generator=generator) < 0.7
    longest = listed(scores, tail.tolist(), every=4, width=100)
    for width in (4, 10, 20, 37):
        assert listed(scores, tail.tolist(), every=4, width=width) == [row[:width] for row in longest]
    for row, row_scores in zip(longest, scores):
        assert len(set(row)) == len(row) and all(row_scores[item] > INF for item in row)
        assert all(tail[row[position]] for position in range(3, len(row), 4))  # slots hold tail items
