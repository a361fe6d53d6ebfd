#include <cstdio>
int main() { std::puts("privedge"); return 0; }
