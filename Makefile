# A thin front door; the logic lives in CMake and in scripts under tests/ and bench/.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= 2
CMAKE_FLAGS ?=
PREFIX     ?= /usr/local

.PHONY: all build run test format-check unit e2e fuzz test-sanitize bench install uninstall deb plugin clean

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

# Runs imagegate in the foreground with the shipped default policy (or /etc/imagegate/imagegate.json).
run: build
	./$(BUILD)/imagegate serve

unit: build
	cd $(BUILD) && ctest --output-on-failure

e2e: build
	bash tests/e2e/run.sh $(BUILD)/imagegate

# Every C/C++ source as clang-format-14 writes it (.clang-format); `make test` starts with it.
format-check:
	bash scripts/check-format.sh

test: format-check unit e2e

# libFuzzer targets (issue 8): clang-14 with ASan+UBSan in build-fuzz, FUZZ_SECONDS per target
# (0 replays the checked-in corpora); prints the crash-free time per target.
FUZZ_SECONDS ?= 60
# Then the differential test against dockerd's own code (tests/oracle): this many generated
# requests from a new seed (DIFFERENTIAL_SEED=N repeats a run); `make unit` runs 20000 from seed 1.
DIFFERENTIAL_CASES ?= 300000
# And the gateway's against the registry's (tests/oracle/registry; GATEWAY_DIFFERENTIAL_SEED=N).
GATEWAY_DIFFERENTIAL_CASES ?= 300000
fuzz:
	CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMAGEGATE_FUZZ=ON
	cmake --build build-fuzz -j$(JOBS) --target fuzz_targets imagegate-differential imagegate-gateway-differential
	bash tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)
	bash tests/oracle/run.sh build-fuzz $(DIFFERENTIAL_CASES) $${DIFFERENTIAL_SEED:-$$(date +%s)}
	bash tests/oracle/registry/run.sh build-fuzz $(GATEWAY_DIFFERENTIAL_CASES) $${GATEWAY_DIFFERENTIAL_SEED:-$$(date +%s)}

# Unit tests and every end-to-end suite under ASan+UBSan (build-asan), unit tests and the plugin
# socket load test under TSan (build-tsan). SANITIZE_E2E=0 runs the load test on the plugin
# socket instead of the dockerd suites (what CI does).
SANITIZE_E2E ?= 1
test-sanitize:
	JOBS=$(JOBS) SANITIZE_E2E=$(SANITIZE_E2E) bash tests/sanitize.sh

# Benchmarks, not tests (issue 7): configures build-bench (Release, -DIMAGEGATE_BENCH=ON), builds,
# runs micro-benchmarks, the plugin socket and real dockerds, prints one table. Root for dockerd.
bench:
	BENCH_BUILD=build-bench JOBS=$(JOBS) bash bench/run.sh

# Binary, systemd units, /etc/imagegate (kept if present), containerd verifier; honours DESTDIR.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# Removes what `make install` put there for PREFIX (and DESTDIR); keeps /etc/imagegate.
uninstall:
	cmake -DPREFIX=$(PREFIX) -P packaging/uninstall.cmake

# The Debian package: $(BUILD)/imagegate_VERSION_ARCH.deb
deb: build
	cmake --build $(BUILD) --target deb

# The managed plugin: assembles $(BUILD)/plugin and runs `docker plugin create imagegate:latest`.
plugin: build
	bash packaging/make-plugin.sh $(BUILD)/imagegate $(BUILD)/plugin imagegate:latest

clean:
	rm -rf $(BUILD)
