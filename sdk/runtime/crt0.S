/* sdk/runtime/crt0.S — _start for freestanding TRE programs (no libc): takes argc, argv
 * and envp from the Linux-like initial stack, aligns the stack, calls
 * main(argc, argv, envp), then tre_exit(main's return). It sets up nothing else: no TLS
 * (FS base stays 0), so freestanding code must not use the stack protector. */
    .text
    .globl _start
    .type _start, @function
_start:
    xorl    %ebp, %ebp              /* outermost frame */
    movq    (%rsp), %rdi            /* argc */
    leaq    8(%rsp), %rsi           /* argv */
    leaq    16(%rsp,%rdi,8), %rdx   /* envp: after argv's NULL */
    andq    $-16, %rsp
    call    main
    movl    %eax, %edi
    call    tre_exit
    ud2
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
