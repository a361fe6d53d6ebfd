# privedge: the two quick-start commands are `make demo` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build deps demo test test-asan fuzz clean

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

# Installs what is missing, builds, and runs a real model end to end.
demo: deps
	@$(MAKE) --no-print-directory build
	@sh scripts/demo.sh $(BUILD_DIR)

# Installs what is missing, builds, and runs the whole test suite.
test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD_DIR) && ctest --output-on-failure

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer (g++), in build-asan.
ASAN_DIR ?= build-asan
SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
test-asan: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS="$(SANITIZE)" -DCMAKE_EXE_LINKER_FLAGS="$(SANITIZE)"
	cmake --build $(ASAN_DIR) -j$(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure

# libFuzzer targets (clang, ASan + UBSan) in build-fuzz, each run SECONDS seconds on a corpus
# seeded from the test data: `make fuzz SECONDS=600`, or one target with FUZZ_TARGETS=npy.
FUZZ_DIR ?= build-fuzz
SECONDS ?= 60
FUZZ_TARGETS ?= onnx_loader npy tensor_proto sandbox_wire idx csv container secagg_messages \
  task_config checkpoint secure_store
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DPRIVEDGE_FUZZ=ON -DPRIVEDGE_BUILD_TESTS=OFF
	cmake --build $(FUZZ_DIR) -j$(JOBS) --target fuzz_targets
	sh fuzz/run.sh $(FUZZ_DIR) $(SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
