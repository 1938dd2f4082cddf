"""Canonical names: convert_case 0.6 word splitting, as the server applies it."""

from __future__ import annotations

import pytest

from spacetimedb_sdk.server.types_from_py import (
    class_to_table_name,
    split_words,
    to_camel_case,
    to_pascal_case,
    to_snake_case,
)


@pytest.mark.parametrize(
    ("source", "snake"),
    [
        # From the fixture README and upstream's test_case_conversion_snake_case_policy.
        ("oneU8", "one_u_8"),
        ("Player1Id", "player_1_id"),
        ("currentLevel2", "current_level_2"),
        ("FruitBasket", "fruit_basket"),
        ("deliveryRecord", "delivery_record"),
        ("BasketId", "basket_id"),
        ("fruitName", "fruit_name"),
        ("color_label", "color_label"),
        ("doDelivery", "do_delivery"),
        ("ProcessItem", "process_item"),
        # convert_case's own examples: acronyms, delimiters.
        ("IOStream", "io_stream"),
        ("myJSONParser", "my_json_parser"),
        ("HTTPRequest", "http_request"),
        ("__leading__and--trailing  ", "leading_and_trailing"),
        ("x2", "x_2"),
        ("already_snake", "already_snake"),
    ],
)
def test_snake_case(source: str, snake: str) -> None:
    assert to_snake_case(source) == snake


def test_camel_and_pascal() -> None:
    # Enum variants are camelCase, type names PascalCase under the snake-case policy.
    assert [to_camel_case(s) for s in ("RedApple", "GreenApple", "RED", "dark_green")] == [
        "redApple", "greenApple", "red", "darkGreen",
    ]  # fmt: skip
    assert to_pascal_case("metaInfo") == "MetaInfo"
    assert to_pascal_case("FruitColor") == "FruitColor"
    assert to_pascal_case("deliveryRecord") == "DeliveryRecord"


def test_split_words_keeps_digits_apart() -> None:
    assert split_words("TransformationsIn3D") == ["Transformations", "In", "3", "D"]


def test_table_name_of_class() -> None:
    assert class_to_table_name("User") == "user"
    assert class_to_table_name("ChatMessage") == "chat_message"
