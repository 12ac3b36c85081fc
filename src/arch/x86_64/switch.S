/*
 * switch.S (x86_64, System V) — the goroutine context switch and the entry
 * of a new goroutine.
 *
 * A switched-out context is just a stack pointer: everything else that
 * must survive a call (the callee-saved registers and the x87/SSE control
 * words) is pushed on that context's own stack.  Frame below a saved sp:
 *
 *     sp+0   MXCSR (4 bytes), x87 control word (2), padding (2)
 *     sp+8   r15
 *     sp+16  r14
 *     sp+24  r13
 *     sp+32  r12
 *     sp+40  rbx
 *     sp+48  rbp
 *     sp+56  return address
 *
 * No syscall, no signal mask change: the switch is an ordinary (opaque)
 * call to the compiler, which therefore assumes every caller-saved register
 * and all memory may change across it.
 */
#define FRAME_SIZE 64

        .text

/* void gort__swapctx(void **save_sp, void *new_sp)
 * rdi = where to store the current sp, rsi = the sp to resume. */
        .globl  gort__swapctx
        .hidden gort__swapctx
        .type   gort__swapctx, @function
        .p2align 4
gort__swapctx:
        .cfi_startproc
        pushq   %rbp                    /* callee-saved registers ... */
        .cfi_adjust_cfa_offset 8
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        subq    $8, %rsp                /* ... and the FP control words */
        .cfi_adjust_cfa_offset 8
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, (%rdi)            /* publish the saved context */
        movq    %rsi, %rsp              /* adopt the other stack */
        ldmxcsr (%rsp)                  /* restore its control words */
        fldcw   4(%rsp)
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq    %r15                    /* and its callee-saved registers */
        .cfi_adjust_cfa_offset -8
        popq    %r14
        .cfi_adjust_cfa_offset -8
        popq    %r13
        .cfi_adjust_cfa_offset -8
        popq    %r12
        .cfi_adjust_cfa_offset -8
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        ret                             /* into the other context */
        .cfi_endproc
        .size   gort__swapctx, .-gort__swapctx

/* void *gort__makectx(uintptr_t hi, struct g *gp)
 * Writes, below the 16-byte aligned top of a new stack, a frame that
 * gort__swapctx resumes into gort__gostart with r12 = gp and default
 * control words (MXCSR 0x1f80, x87 CW 0x037f).  Returns its sp.  Only the
 * top 80 bytes of the stack are touched. */
        .globl  gort__makectx
        .hidden gort__makectx
        .type   gort__makectx, @function
        .p2align 4
gort__makectx:
        .cfi_startproc
        andq    $-16, %rdi              /* align the top */
        leaq    -(FRAME_SIZE+16)(%rdi), %rax /* frame + 16 bytes above it */
        movl    $0x1f80, (%rax)         /* MXCSR: all exceptions masked */
        movw    $0x037f, 4(%rax)        /* x87 CW: default */
        movw    $0, 6(%rax)
        xorl    %ecx, %ecx
        movq    %rcx, 8(%rax)           /* r15 */
        movq    %rcx, 16(%rax)          /* r14 */
        movq    %rcx, 24(%rax)          /* r13 */
        movq    %rsi, 32(%rax)          /* r12 = gp */
        movq    %rcx, 40(%rax)          /* rbx */
        movq    %rcx, 48(%rax)          /* rbp = 0 ends frame-pointer walks */
        leaq    gort__gostart(%rip), %rdx
        movq    %rdx, 56(%rax)          /* return address */
        movq    %rcx, 64(%rax)          /* zero words above: after the ret */
        movq    %rcx, 72(%rax)          /* rsp is 16-byte aligned here */
        ret
        .cfi_endproc
        .size   gort__makectx, .-gort__makectx

/* The first instruction a new goroutine runs.  rsp is 16-byte aligned,
 * r12 holds the g.  The return address is undefined for unwinders, so
 * backtraces stop cleanly here; rbp = 0 stops frame-pointer walks. */
        .globl  gort__gostart
        .hidden gort__gostart
        .type   gort__gostart, @function
        .p2align 4
gort__gostart:
        .cfi_startproc
        .cfi_undefined rip
        movq    %r12, %rdi              /* gort__goentry(gp) */
        xorl    %ebp, %ebp
        call    gort__goentry
        ud2                             /* gort__goentry never returns */
        .cfi_endproc
        .size   gort__gostart, .-gort__gostart


/* void gort__sigtramp(void)  -- entered from a rewritten signal context
 * (preempt.c) with rdi = a copy of the kernel's signal frame on this
 * goroutine's stack, rsi = the C function to run, rsp 16-byte aligned
 * below the copy.  Calls fn(frame), then resumes the interrupted code
 * with rt_sigreturn on the copy: every register, the vector state and the
 * signal mask come back as they were.  The return address is undefined for
 * unwinders: a backtrace of a preempted goroutine stops here. */
        .globl  gort__sigtramp
        .hidden gort__sigtramp
        .type   gort__sigtramp, @function
        .p2align 4
gort__sigtramp:
        .cfi_startproc
        .cfi_undefined rip
        movq    %rdi, %rbx              /* callee-saved: survives the call */
        call    *%rsi
        leaq    8(%rbx), %rsp           /* rt_sigframe: restorer slot + 8 */
        movl    $15, %eax               /* __NR_rt_sigreturn */
        syscall
        ud2
        .cfi_endproc
        .size   gort__sigtramp, .-gort__sigtramp

        .section .note.GNU-stack,"",@progbits
