#include <cstdio>
int main() { std::puts("sdworker"); return 0; }
