// PRIVEDGE_SANITIZED: defined in sanitizer builds (make test-asan, make fuzz), which always
// pair AddressSanitizer with UBSan; the worker relaxes what their runtimes need there.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define PRIVEDGE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRIVEDGE_SANITIZED 1
#endif
#endif
