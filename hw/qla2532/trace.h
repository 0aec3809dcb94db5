#include "trace/trace-hw_qla2532.h"
