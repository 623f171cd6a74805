/* tests/badprogs/no_manifest.c — an ordinary C program with no trevisor manifest; built
 * static (refused: no manifest) and dynamic (refused: PT_INTERP). */
#include <stdio.h>

int main(void)
{
    puts("not a TRE program");
    return 0;
}
