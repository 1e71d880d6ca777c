"""The guarantee modules under mutation test, each with the tests that guard it.

Each target's mutants run against its own test subset only, on SQLite with Redis,
so the whole run fits a small machine. Order is priority: a budgeted run stops
after the first targets.
"""
from __future__ import annotations

TARGETS: dict[str, tuple[list[str], list[str]]] = {
    # name: (modules to mutate, tests that guard them)
    "rate-window": (["app/gateway/admission/rate_limits.py"],
                    ["tests/gateway/admission/test_admission.py"]),
    # test_quota_race.py is left out: its gateways run in subprocesses, which mutmut does not
    # see reach a mutant, so it kills none; and under load its servers may start too slowly.
    "quotas": (["app/gateway/admission/quotas.py", "storage/quotas.py"],
               ["tests/gateway/admission/test_quotas.py", "tests/gateway/admission/test_admission.py",
                "tests/gateway/admission/test_alerts.py", "tests/gateway/test_redis_names.py",
                "tests/storage/test_quotas.py",
                "tests/gateway/admission/test_redis_faults.py::"
                "test_a_counter_is_rebuilt_from_this_months_log_for_its_own_key",
                "tests/gateway/admission/test_redis_faults.py::"
                "test_a_count_that_cannot_be_given_back_never_fails_the_answer",
                "tests/dashboard/test_pages.py::test_free_tier_sees_this_months_cost_on_a_chart_and_an_upgrade_note",
                "tests/dashboard/test_pages.py::test_each_keys_count_and_the_accounts_come_from_the_quota_counters"]),
    "admission-counters": (["app/gateway/admission/counters.py"],
                           ["tests/gateway/admission/test_admission.py",
                            "tests/gateway/admission/test_redis_faults.py",
                            "tests/gateway/loops/test_loops_http.py", "tests/gateway/test_budgets.py"]),
    "loop-verdicts": (["app/gateway/loops/detector.py"],
                      ["tests/gateway/loops/test_loops.py", "tests/gateway/loops/test_loops_http.py"]),
    "cache-key": (["app/gateway/cache/keys.py"], ["tests/gateway/cache/test_cache.py"]),
    "pricing": (["app/gateway/pricing.py"],
                ["tests/gateway/test_pricing.py",
                 "tests/gateway/test_chat_sdk.py::test_completion_has_openai_shape_and_exact_cost"]),
    # Every test of test_request_log.py but the killed ``aqta worker``'s (its worker runs in a
    # subprocess, which mutmut does not see reach a mutant, and it takes 20 s a run), and the
    # in-process tests of start records and of the journal's backlog.
    "request-log": (["app/gateway/request_log/sink.py", "app/gateway/request_log/drain.py",
                     "app/handoff/journal.py", "app/handoff/drain.py"],
                    [*(f"tests/gateway/request_log/test_request_log.py::{test}" for test in (
                        "test_every_answer_is_logged_exactly_once",
                        "test_the_embedded_worker_drains_on_its_own",
                        "test_inserting_a_batch_twice_adds_nothing",
                        "test_a_drain_killed_before_acking_loses_nothing",
                        "test_the_journal_survives_a_killed_process_and_drains_exactly_once",
                        "test_a_crash_between_insert_and_offset_write_re_inserts_nothing",
                        "test_a_record_the_table_refuses_is_set_aside_not_retried_for_ever",
                        "test_concurrent_appends_from_threads_are_all_kept",
                        "test_redis_down_falls_back_to_the_journal_then_drains",
                        "test_a_drain_reads_the_journal_while_redis_is_down",
                        "test_drain_stream_stops_when_the_stream_is_empty",
                        "test_a_journal_line_is_written_before_append_returns",
                        "test_a_batch_the_database_refuses_is_kept_until_it_can_be_inserted",
                        "test_a_drain_killed_between_reading_and_acknowledging_loses_nothing",
                        "test_a_batch_keeps_its_good_records_and_hands_over_the_bad_ones",
                    )),
                     "tests/gateway/request_log/test_sink.py", "tests/handoff/test_journal.py",
                     "tests/handoff/test_drain.py",
                     "tests/gateway/request_log/test_reconcile.py::"
                     "test_a_start_is_closed_only_after_the_grace_and_a_late_final_record_wins",
                     "tests/metrics/test_metrics.py::"
                     "test_the_journal_backlog_and_the_job_queues_are_read_at_scrape_time"]),
    "api-keys": (["app/identity/api_keys.py", "app/identity/authentication.py"],
                 ["tests/identity/test_keys.py", "tests/identity/test_auth.py",
                  "tests/identity/test_sessions.py", "tests/gateway/test_budgets.py",
                  "tests/api/test_caps.py::test_concurrent_key_creates_stop_at_the_cap",
                  "tests/dashboard/test_pages.py::test_a_new_key_is_shown_once_with_its_limits_and_works",
                  "tests/dashboard/test_pages.py::test_a_new_key_can_lower_one_limit_and_keep_the_tiers_other",
                  "tests/dashboard/test_pages.py::test_limits_above_the_tier_are_refused_before_a_key_is_made"]),
    # The SSRF guard's rules are pure functions with a unit test of their own, which is quick
    # enough to run for each of its mutants; the sender and the signatures need the HTTP tests.
    "ssrf-guard": (["app/webhooks/safety.py"], ["tests/webhooks/test_safety.py"]),
    # Signing and the sender: their unit tests, the sender alone against loopback receivers, and
    # the API and delivery tests that show a secret, sign, retry, redirect, time out or pin. Left
    # out: the delivery tests of each event type, disabling, leases, Redis and pruning, which sign
    # and send as these do; with them every mutant of the sender ran all of them (a minute each).
    "webhook-signing": (["app/webhooks/signing.py", "app/webhooks/transport.py"],
                        ["tests/webhooks/test_signing.py", "tests/webhooks/test_transport.py",
                         *(f"tests/webhooks/test_endpoints_api.py::{name}" for name in (
                             "test_create_shows_the_secret_once", "test_the_secret_is_stored_sealed",
                             "test_rotation_shows_the_new_secret_once",
                             "test_the_secret_shown_verifies_what_is_delivered")),
                         *(f"tests/webhooks/test_delivery.py::{name}" for name in (
                             "test_a_test_event_arrives_signed",
                             "test_after_rotation_old_and_new_secrets_both_verify",
                             "test_retries_carry_the_same_webhook_id_until_a_2xx",
                             "test_redirects_are_not_followed",
                             "test_the_sender_reads_at_most_64_kib_of_an_answer",
                             "test_the_sender_stops_reading_a_trickling_answer_at_its_timeout",
                             "test_a_slow_receiver_times_out_and_is_retried",
                             "test_the_address_is_checked_again_at_send_time",
                             "test_the_sender_connects_to_the_address_it_checked",
                             "test_a_closed_port_is_a_failed_attempt",
                             "test_a_failures_reason_is_its_innermost_cause_without_object_reprs",
                             "test_https_is_pinned_with_sni_and_the_certificate_checked_against_the_name"))]),
    "transparency-proofs": (["app/healthcare/merkle.py", "app/healthcare/note.py",
                             "app/healthcare/checkpoint.py"],
                            ["tests/healthcare/test_merkle.py", "tests/healthcare/test_note.py"]),
    # The offline modules' import check reads their source, which in a mutation run imports
    # mutmut's trampoline: it is left out (it guards imports, not behaviour).
    "receipt-verifier": (["app/healthcare/verify.py", "app/healthcare/offline.py"],
                         ["tests/healthcare/test_offline_cli.py", "tests/healthcare/test_receipts_http.py",
                          "tests/healthcare/test_verify_bundle.py", "tests/healthcare/test_offline_checks.py",
                          "--deselect=tests/healthcare/test_offline_cli.py::"
                          "test_the_offline_modules_use_only_the_standard_library_and_cryptography"]),
}
