//! `carillon-box` on real sockets on 127.0.0.1: the binary as a child process, the real
//! `carillon-cloud` SIP server in-process behind a TCP relay the test can cut, SIPp as the
//! phones. Ports are picked free, every wait is bounded, and only this test's own processes
//! are stopped, by PID. Without `sipp` on the PATH the SIPp tests say so and pass as skipped.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

mod a_bad_configuration_exits_non_zero_with_a_clear_error;
mod a_call_up_before_the_cut_can_still_be_hung_up;
mod phones_on_tcp_register_and_call_through_the_box;
mod phones_register_through_the_box_and_the_cloud_learns_them;
mod recovery_against_the_real_cloud_hands_bindings_back_and_uploads_records_once;
mod survival_after_uplink_loss_and_after_kill_9;
mod the_control_link_enrolls_authenticates_and_applies_config;
