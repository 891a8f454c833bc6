#!/bin/sh
# The one command that builds the release binary of mcpgate.
#
# Used by the Dockerfile's build stage (`sh scripts/build-release.sh`) and by docs/deploy.md for a
# local build; crates/mcpgate/tests/deploy.rs checks that the Dockerfile runs this script and that
# the package, binary and features are the ones the tests run (`CARGO_BIN_EXE_mcpgate`: package
# mcpgate, binary mcpgate, default features). The result is target/release/mcpgate (under
# CARGO_TARGET_DIR when that is set).
set -eu
exec cargo build --release --locked -p mcpgate --bin mcpgate "$@"
