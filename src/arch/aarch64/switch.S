/*
 * switch.S (aarch64, AAPCS64) — the goroutine context switch and the entry
 * of a new goroutine.  Same contract as arch/x86_64/switch.S.
 *
 * A switched-out context is just a stack pointer: everything else that
 * must survive a call (x19-x28, the frame pointer x29, the link register
 * x30, the low halves d8-d15 of v8-v15, and the floating-point control
 * register FPCR) is stored on that context's own stack.  sp stays 16-byte
 * aligned throughout, as AAPCS64 requires of every sp-relative access.
 * Frame below a saved sp (176 bytes):
 *
 *     sp+0    x29 (fp)     \  an ordinary AAPCS64 frame record, so a
 *     sp+8    x30 (lr)     /  parked goroutine's sp starts an fp chain
 *     sp+16   x19
 *     sp+24   x20
 *     sp+32   x21
 *     sp+40   x22
 *     sp+48   x23
 *     sp+56   x24
 *     sp+64   x25
 *     sp+72   x26
 *     sp+80   x27
 *     sp+88   x28
 *     sp+96   d8
 *     sp+104  d9
 *     sp+112  d10
 *     sp+120  d11
 *     sp+128  d12
 *     sp+136  d13
 *     sp+144  d14
 *     sp+152  d15
 *     sp+160  FPCR (8 bytes; the register reads as 64 bits)
 *     sp+168  padding (keeps the frame a multiple of 16)
 *
 * FPSR (the sticky exception flags) is not switched: like any opaque call
 * that may run other code, a switch leaves them unspecified.  FPCR is
 * written only when it differs: a write to FPCR can be serialising on some
 * cores, and contexts almost always share the default (0: round to
 * nearest, no traps, no flush-to-zero).
 *
 * No syscall, no signal mask change: the switch is an ordinary (opaque)
 * call to the compiler, which therefore assumes every caller-saved register
 * and all memory may change across it.  x18 (platform register) is not
 * touched; Linux leaves it free and gort does not use it.
 */
#define FRAME_SIZE 176
#define FPCR_OFF   160

        .text

/* void gort__swapctx(void **save_sp, void *new_sp)
 * x0 = where to store the current sp, x1 = the sp to resume. */
        .globl  gort__swapctx
        .hidden gort__swapctx
        .type   gort__swapctx, %function
        .p2align 4
gort__swapctx:
        .cfi_startproc
        stp     x29, x30, [sp, #-FRAME_SIZE]! /* frame record, frame */
        .cfi_def_cfa_offset FRAME_SIZE
        .cfi_offset x29, -FRAME_SIZE
        .cfi_offset x30, -FRAME_SIZE+8
        stp     x19, x20, [sp, #16]     /* callee-saved integer registers */
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]
        stp     x25, x26, [sp, #64]
        stp     x27, x28, [sp, #80]
        stp     d8, d9, [sp, #96]       /* callee-saved FP registers */
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mrs     x9, fpcr                /* the FP control register */
        str     x9, [sp, #FPCR_OFF]
        mov     x10, sp                 /* sp cannot be stored directly */
        str     x10, [x0]               /* publish the saved context */
        mov     sp, x1                  /* adopt the other stack */
        ldr     x10, [sp, #FPCR_OFF]    /* its FP control register */
        cmp     x9, x10                 /* unchanged (the usual case)? */
        b.eq    1f                      /* then skip the costly write */
        msr     fpcr, x10               /* else install it */
1:      ldp     d8, d9, [sp, #96]       /* its callee-saved FP registers */
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        ldp     x19, x20, [sp, #16]     /* its callee-saved integer ones */
        ldp     x21, x22, [sp, #32]
        ldp     x23, x24, [sp, #48]
        ldp     x25, x26, [sp, #64]
        ldp     x27, x28, [sp, #80]
        ldp     x29, x30, [sp], #FRAME_SIZE /* fp, lr; pop the frame */
        .cfi_def_cfa_offset 0
        .cfi_restore x29
        .cfi_restore x30
        ret                             /* into the other context (x30) */
        .cfi_endproc
        .size   gort__swapctx, .-gort__swapctx

/* void *gort__makectx(uintptr_t hi, struct g *gp)
 * Writes, below the 16-byte aligned top of a new stack, a frame that
 * gort__swapctx resumes into gort__gostart with x19 = gp, fp = 0, the
 * other callee-saved registers 0 and FPCR = 0 (the Linux default).
 * Returns its sp.  Only the top 192 bytes of the stack are touched: the
 * frame and 16 zero bytes above it, where sp points after the first
 * switch's pop. */
        .globl  gort__makectx
        .hidden gort__makectx
        .type   gort__makectx, %function
        .p2align 4
gort__makectx:
        .cfi_startproc
        and     x9, x0, #-16            /* align the top */
        sub     x0, x9, #(FRAME_SIZE+16) /* frame + 16 bytes above it */
        adr     x10, gort__gostart      /* pc-relative: fine in a .so */
        stp     xzr, x10, [x0, #0]      /* x29 = 0 ends fp walks; x30 */
        stp     x1, xzr, [x0, #16]      /* x19 = gp, x20 */
        stp     xzr, xzr, [x0, #32]     /* x21, x22 */
        stp     xzr, xzr, [x0, #48]     /* x23, x24 */
        stp     xzr, xzr, [x0, #64]     /* x25, x26 */
        stp     xzr, xzr, [x0, #80]     /* x27, x28 */
        stp     xzr, xzr, [x0, #96]     /* d8, d9 */
        stp     xzr, xzr, [x0, #112]    /* d10, d11 */
        stp     xzr, xzr, [x0, #128]    /* d12, d13 */
        stp     xzr, xzr, [x0, #144]    /* d14, d15 */
        stp     xzr, xzr, [x0, #FPCR_OFF] /* FPCR = 0, padding */
        stp     xzr, xzr, [x0, #FRAME_SIZE] /* zero words above the frame */
        ret                             /* x0 = the new context's sp */
        .cfi_endproc
        .size   gort__makectx, .-gort__makectx

/* The first instruction a new goroutine runs.  sp is 16-byte aligned,
 * x19 holds the g.  The return address is undefined for unwinders, so
 * backtraces stop cleanly here; fp = 0 stops frame-pointer walks (the
 * frame record gort__goentry pushes links to a null frame). */
        .globl  gort__gostart
        .hidden gort__gostart
        .type   gort__gostart, %function
        .p2align 4
gort__gostart:
        .cfi_startproc
        .cfi_undefined x30
        mov     x0, x19                 /* gort__goentry(gp) */
        mov     x29, xzr                /* no caller frame */
        mov     x30, xzr                /* no return address */
        bl      gort__goentry
        brk     #0x3e8                  /* gort__goentry never returns */
        .cfi_endproc
        .size   gort__gostart, .-gort__gostart


/* void gort__sigtramp(void)  -- entered from a rewritten signal context
 * (preempt.c) with x0 = a copy of the kernel's signal frame on this
 * goroutine's stack, x1 = the C function to run, sp 16-byte aligned below
 * the copy.  Calls fn(frame), then resumes the interrupted code with
 * rt_sigreturn on the copy (the kernel reads the frame at sp). */
        .globl  gort__sigtramp
        .hidden gort__sigtramp
        .type   gort__sigtramp, %function
        .p2align 4
gort__sigtramp:
        .cfi_startproc
        .cfi_undefined x30
        mov     x29, xzr
        mov     x19, x0                 /* callee-saved: survives the call */
        blr     x1
        mov     sp, x19
        mov     x8, #139                /* __NR_rt_sigreturn */
        svc     #0
        brk     #0
        .cfi_endproc
        .size   gort__sigtramp, .-gort__sigtramp

        .section .note.GNU-stack,"",%progbits
