/*
 * test-list.h — the registry.  Each area keeps its own list file of
 * TEST(name, timeout_seconds) lines; this file gathers them.
 */
#include "list-sched.h"
#include "list-sync.h"
#include "list-defer.h"
#include "list-chan.h"
#include "list-time.h"
#include "list-net.h"
#include "list-debug.h"
#include "list-fault.h"
#include "list-trace.h"
