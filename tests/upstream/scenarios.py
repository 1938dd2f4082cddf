"""Upstream's SDK test scenarios, transcribed from ``sdks/rust/tests/test.rs`` (SpacetimeDB commit
``fb7282411b0b73cc68d51e161f180cd409abd851``), and where each one is run here.

A scenario is one ``#[test]`` of test.rs, identified by its group (the macro or module that
declares it) and its name; the module variants it runs against are listed with it (one Python
port stands for every variant: the ports have the Rust module's schema, which the variants
share).  ``tests/upstream/test_<file>.py`` has a test per applicable scenario, named
``test_<name>`` (or ``<name>`` when the name already starts with ``test_``).  A scenario that
does not apply says why, after upstream.

``EXTRA_HANDLERS`` are test-client handlers that test.rs does not run; those ported are tests too
(not counted as scenarios).  ``test_scenario_list.py`` keeps this list, the tests and the
README's count in step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    group: str
    name: str
    subcommand: str | None  # the client subcommand test.rs runs (None: the client's default)
    modules: tuple[str, ...]
    file: str | None  # tests/upstream/<file>.py holding the test; None if not applicable
    note: str = ""  # how upstream runs it, or why it does not apply

    @property
    def test_name(self) -> str:
        return self.name if self.name.startswith("test_") else f"test_{self.name}"


_SDK_TEST = ("sdk-test", "sdk-test-ts", "sdk-test-cs", "sdk-test-cpp")


def _sdk(name: str, subcommand: str | None = None, note: str = "") -> Scenario:
    return Scenario(
        "declare_tests_with_suffix!",
        name,
        subcommand or name.replace("_", "-"),
        _SDK_TEST,
        "test_sdk_test",
        note,
    )


_UPDATE_SLIP = (
    "test.rs runs the `{sub}` subcommand here (an upstream slip; test_{kind} runs it); the "
    "test runs the `{name}` handler the scenario is named after"
)

SCENARIOS: tuple[Scenario, ...] = (
    _sdk("insert_primitive"),
    _sdk("subscribe_and_cancel"),
    _sdk("subscribe_and_unsubscribe"),
    _sdk("subscription_error_smoke_test"),
    _sdk("delete_primitive"),
    _sdk("update_primitive"),
    _sdk("insert_identity"),
    _sdk("insert_caller_identity"),
    _sdk("delete_identity"),
    _sdk(
        "update_identity",
        "delete-identity",
        _UPDATE_SLIP.format(
            sub="delete-identity", kind="delete_identity", name="update-identity"
        ),
    ),
    _sdk("insert_connection_id"),
    _sdk("insert_caller_connection_id"),
    _sdk("delete_connection_id"),
    _sdk(
        "update_connection_id",
        "delete-connection-id",
        _UPDATE_SLIP.format(
            sub="delete-connection-id", kind="delete_connection_id", name="update-connection-id"
        ),
    ),
    _sdk("insert_timestamp"),
    _sdk(
        "insert_call_uuid_v4",
        note="upstream's handler is an empty stub (its body is commented out); the test runs "
        "what that body meant: the ctx.new_uuid_v4() row arrives and is a version-4 UUID",
    ),
    _sdk(
        "insert_call_uuid_v7",
        note="upstream's handler is an empty stub; the test checks the ctx.new_uuid_v7() row "
        "is a version-7 UUID",
    ),
    _sdk("insert_uuid"),
    _sdk("delete_uuid"),
    _sdk(
        "update_uuid",
        "delete-uuid",
        _UPDATE_SLIP.format(sub="delete-uuid", kind="delete_uuid", name="update-uuid"),
    ),
    _sdk("on_reducer"),
    _sdk("fail_reducer"),
    _sdk("insert_vec"),
    _sdk("insert_option_some"),
    _sdk("insert_option_none"),
    _sdk("insert_struct"),
    _sdk("insert_simple_enum"),
    _sdk("insert_enum_with_payload"),
    _sdk("insert_delete_large_table"),
    _sdk("insert_primitives_as_strings"),
    _sdk(
        "should_fail",
        note="a harness self-check, #[should_panic] upstream: the test client reports a "
        "deliberate failure; the test checks that this harness (harness.Checks) fails the same way",
    ),
    _sdk("reauth"),
    _sdk("reconnect_different_connection_id"),
    Scenario(
        "declare_tests_with_suffix!",
        "connect_disconnect_callbacks",
        None,
        tuple(m.replace("sdk-test", "sdk-test-connect-disconnect") for m in _SDK_TEST),
        "test_connect_disconnect",
        "runs connect_disconnect_client against sdk-test-connect-disconnect",
    ),
    _sdk("caller_always_notified"),
    _sdk(
        "subscribe_all_select_star",
        note="#[should_panic] upstream: the Rust SDK's subscribe_to_all_tables also subscribes to "
        "the private tables of bindings generated with private items, which an unprivileged "
        "client may not read; this SDK subscribes to the public tables only, so the scenario "
        "runs as upstream intends (its TODO: re-enable once private items are not included)",
    ),
    _sdk("caller_alice_receives_reducer_callback_but_not_bob"),
    _sdk("row_deduplication"),
    _sdk("row_deduplication_join_r_and_s"),
    _sdk("row_deduplication_r_join_s_and_r_join_t8", "row-deduplication-r-join-s-and-r-joint"),
    _sdk("test_lhs_join_update"),
    _sdk("test_lhs_join_update_disjoint_queries"),
    _sdk(
        "test_intra_query_bag_semantics_for_join",
        note="#[ignore] upstream as flaky: its Rust client returned before its callbacks ran; "
        "this test waits for its checks",
    ),
    _sdk("two_different_compression_algos"),
    _sdk("test_parameterized_subscription"),
    _sdk("test_rls_subscription"),
    _sdk("pk_simple_enum"),
    _sdk("indexed_simple_enum"),
    _sdk("overlapping_subscriptions"),
    _sdk("sorted_uuids_insert"),
    *(
        Scenario(
            "event_table_tests", name, name.replace("_", "-"), ("sdk-test-event-table",),
            "test_event_table",
        )
        for name in ("event_table", "multiple_events", "events_dont_persist")
    ),
    *(
        Scenario(
            "procedure_tests!",
            name,
            sub,
            tuple(f"sdk-test-procedure{s}" for s in ("", "-ts", "-cpp", "-cs")),
            "test_procedure",
        )
        for name, sub in (
            ("return_values", "procedure-return-values"),
            ("observe_panic", "procedure-observe-panic"),
            ("with_tx_commit", "insert-with-tx-commit"),
            ("with_tx_rollback", "insert-with-tx-rollback"),
            ("http_ok", "procedure-http-ok"),
            ("http_err", "procedure-http-err"),
            ("schedule_procedure", "schedule-procedure"),
        )
    ),
    *(
        Scenario(
            "rust_procedure_concurrency",
            name,
            sub,
            ("sdk-test-procedure-concurrency",),
            "test_procedure_concurrency",
            note,
        )
        for name, sub, note in (
            ("procedure_reducer_interleaving", "procedure-reducer-interleaving", ""),
            (
                "procedure_reducer_same_client_not_interleaved",
                "procedure-reducer-same-client-interleaved",
                "despite its name, the handler asserts the same client's reducer does run "
                "between its procedure's transactions",
            ),
            (
                "procedure_concurrent_with_scheduled_reducer",
                "procedure-concurrent-with-scheduled-reducer",
                "",
            ),
            (
                "scheduled_procedure_scheduled_reducer_not_interleaved",
                "scheduled-procedure-scheduled-reducer-not-interleaved",
                "tracks a behaviour upstream means to change: a sleeping scheduled procedure "
                "holds the scheduler",
            ),
        )
    ),
    *(
        Scenario(
            "view_tests!", name, sub, ("sdk-test-view", "sdk-test-view-cpp"), "test_view"
        )
        for name, sub in (
            ("subscribe_anonymous_view", "view-anonymous-subscribe"),
            (
                "subscribe_anonymous_view_query_builder",
                "view-anonymous-subscribe-with-query-builder",
            ),
            ("subscribe_non_anonymous_view", "view-non-anonymous-subscribe"),
            ("subscribe_view_non_table_return", "view-non-table-return"),
            (
                "subscribe_view_non_table_query_builder_return",
                "view-non-table-query-builder-return",
            ),
            ("subscription_updates_for_view", "view-subscription-update"),
            (
                "disconnect_does_not_break_sender_view_updates",
                "view-disconnect-does-not-break-sender-updates",
            ),
        )
    ),
    *(
        Scenario(
            "case_conversion_ts, case_conversion_rust",
            name,
            sub,
            ("sdk-test-case-conversion-ts", "sdk-test-case-conversion"),
            "test_case_conversion",
        )
        for name, sub in (
            ("insert_player", "insert-player"),
            ("insert_person", "insert-person"),
            ("ban_player", "ban-player"),
            ("query_builder_filter", "query-builder-filter"),
            ("query_builder_join", "query-builder-join"),
            ("query_view", "view"),
        )
    ),
    *(
        Scenario(
            "case_conversion_rust_ts_client",
            name,
            sub,
            ("sdk-test-case-conversion",),
            None,
            "runs the official TypeScript SDK's case-conversion-test-client with bindings from "
            "`spacetime generate --lang typescript`: a test of that SDK, not of this one (the "
            "same scenarios run with this SDK in test_case_conversion)",
        )
        for name, sub in (
            ("insert_player", "insert-player"),
            ("insert_person", "insert-person"),
            ("ban_player", "ban-player"),
            ("query_builder_filter", "query-builder-filter"),
            ("query_builder_join", "query-builder-join"),
        )
    ),
    *(
        Scenario(
            "view_pk_tests!",
            name,
            sub,
            tuple(f"sdk-test-view-pk{s}" for s in ("", "-cs", "-ts", "-cpp")),
            "test_view_pk",
        )
        for name, sub in (
            ("query_builder_view_with_pk_on_update_callback", "view-pk-on-update"),
            ("query_builder_join_table_with_view_pk", "view-pk-join-query-builder"),
            (
                "query_builder_semijoin_two_sender_views_with_pk",
                "view-pk-semijoin-two-sender-views-query-builder",
            ),
        )
    ),
    *(
        Scenario(
            "procedural_view_pk_tests!",
            name,
            sub,
            tuple(f"sdk-test-procedural-view-pk{s}" for s in ("", "-cs", "-ts", "-cpp")),
            "test_procedural_view_pk",
        )
        for name, sub in (
            ("sender_scoped_procedural_pk_view", "sender-scoped-pk-view"),
            ("procedural_view_pk_left_semijoin", "view-pk-left-semijoin"),
            ("procedural_view_pk_right_semijoin", "view-pk-right-semijoin"),
        )
    ),
)  # fmt: skip


@dataclass(frozen=True)
class ExtraHandler:
    """A test-client handler test.rs does not run."""

    client: str
    subcommand: str
    file: str | None  # the test running it, if ported
    test_name: str | None
    note: str


EXTRA_HANDLERS: tuple[ExtraHandler, ...] = (
    ExtraHandler(
        "test-client",
        "insert-call-timestamp",
        "test_sdk_test",
        "test_insert_call_timestamp",
        "the stored timestamp equals the ReducerEvent's",
    ),
    ExtraHandler(
        "test-client",
        "update-identity, update-connection-id, update-uuid",
        "test_sdk_test",
        None,
        "run by test_update_identity, test_update_connection_id and test_update_uuid",
    ),
    ExtraHandler(
        "procedure-client",
        "sorted-uuids-insert",
        "test_procedure",
        "test_sorted_uuids_insert",
        "1000 UUIDv7s from a procedure's transaction arrive sorted",
    ),
    ExtraHandler(
        "event-table-client",
        "v1-rejects-event-table",
        None,
        None,
        "not ported: it needs a client speaking the v1 WebSocket protocol, which this SDK "
        "and the local server do not implement (both speak v2 and v3 only)",
    ),
)


def applicable() -> list[Scenario]:
    return [s for s in SCENARIOS if s.file is not None]
