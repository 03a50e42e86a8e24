# Thin wrapper over CMake.  See README.md.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-unit test-cli test-asan test-guest test-fuzz fuzz torture build-asan deb test-deb kmod demo bench install clean

all: build

deps:
	./scripts/install-deps.sh build test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# The main job: dependencies, build, then memdup over this machine.
# Exit status 1 only means some processes could not be read (named on stderr).
run: deps build
	$(BUILD)/tools/memdup --all || [ $$? -eq 1 ]

# The whole suite: on the normal build, then on the ASan + UBSan build,
# then the kernel module's tests in a QEMU guest.
test: deps build
	./tests/run-all.sh $(BUILD)
	$(MAKE) test-asan
	$(MAKE) torture
	$(MAKE) test-guest
	$(MAKE) test-fuzz
	$(MAKE) test-deb

# Every parser of outside input under libFuzzer: briefly in the test suite,
# for longer with make fuzz (FUZZ_RUNS executions per harness, at most
# FUZZ_SECONDS each).
FUZZ_SECONDS ?= 1800
FUZZ_RUNS ?= 1000000
test-fuzz:
	./scripts/install-deps.sh fuzz
	./tests/fuzz/run.sh 5

fuzz:
	./scripts/install-deps.sh fuzz
	./tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_RUNS)

# Fault torture on the ASan + UBSan build: targets signalled during
# injections, killed under every tool, memmerge interrupted (tallies printed).
TORTURE_SCALE ?= 1
torture: build-asan
	./tests/torture/torture.py $(ASAN_BUILD) --scale $(TORTURE_SCALE)

# Debian packages (mergemem, libmergemem-dev, mergemem-dkms) in build-deb/.
deb:
	./scripts/install-deps.sh build deb
	./scripts/make-deb.sh build-deb

# Install them with apt, smoke-test every tool, purge them again.
test-deb: deb
	./tests/deb/run.sh build-deb

# mergemem.ko against the installed Debian kernel's headers, booted under QEMU.
test-guest: build
	./scripts/install-deps.sh guest
	BUILD=$(BUILD) ./tests/guest/run.sh bookworm
	./scripts/trixie-chroot.sh
	BUILD=$(BUILD) ./tests/guest/run.sh trixie

# Build mergemem.ko for the running kernel (KDIR=... for another).
kmod:
	$(MAKE) -C kmod

test-unit: build
	cd $(BUILD) && ctest --output-on-failure

test-cli: build
	BUILD=$(abspath $(BUILD)) bats tests/cli

# The whole suite again under AddressSanitizer + UBSan.
test-asan: build-asan
	./tests/run-all.sh $(ASAN_BUILD)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DMERGEMEM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)

demo: deps build
	./scripts/demo.sh $(BUILD)

bench: deps build
	./bench/run.sh $(BUILD)

# cmake --install honours DESTDIR from the environment (make exports it).
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz build-deb
