/* base/version.h — kvmm's version: `kvmm version`, the QMP greeting and query-version.
 * Constants only; any thread. */
#pragma once

#define KVMM_VERSION_MAJOR 0
#define KVMM_VERSION_MINOR 1
#define KVMM_VERSION_MICRO 0
#define KVMM_VERSION	   "0.1.0"
