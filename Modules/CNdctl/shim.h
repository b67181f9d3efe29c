#include <ndctl/libndctl.h>
