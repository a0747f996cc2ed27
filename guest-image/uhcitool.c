/*
 * uhcitool: tiny freestanding helper for the uhci test guest (i386 Linux, no libc).
 *
 * Build (no multilib needed: no headers, no libc, no libgcc):
 *   gcc -m32 -march=i686 -ffreestanding -nostdlib -static -Os -fno-pie -no-pie \
 *       -fno-stack-protector -fno-asynchronous-unwind-tables -Wl,--build-id=none -s \
 *       -o uhcitool uhcitool.c
 *
 * Subcommands:
 *   uhcitool sig RATE CHANNELS FRAMES PADFRAMES
 *       Writes a RIFF/WAVE file (PCM S16_LE) to stdout: FRAMES frames of the test
 *       signal followed by PADFRAMES frames of digital silence (all channels 0).
 *       Test signal, frame index f = 0,1,2,...:
 *         channel 0      : (int16)(f & 0xFFFF)            -- frame counter
 *         channel c >= 1 : triangle, period 48 frames, phase shifted by 12*(c-1):
 *                          p = (f + 12*(c-1)) % 48
 *                          v = p < 24 ? -16384 + 1365*p : 16376 - 1365*(p-24)
 *   uhcitool evdev MILLISECONDS NODE...
 *       Opens /dev/input/NODE for each NODE (e.g. event0), prints one line per
 *       input_event until MILLISECONDS have elapsed (monotonic clock):
 *         @@UHCI {"event":"input","node":"event0","sec":S,"usec":U,"type":T,"code":C,"value":V}
 *       After opening the nodes it prints @@UHCI {"event":"input-open","nodes":N};
 *       at the end @@UHCI {"event":"input-summary","events":N,"ms":MS}
 *   uhcitool ms
 *       Prints CLOCK_MONOTONIC in milliseconds (for timing in the shell).
 */

typedef unsigned int u32;
typedef int s32;
typedef unsigned short u16;
typedef short s16;
typedef unsigned char u8;

#define SYS_exit 1
#define SYS_read 3
#define SYS_write 4
#define SYS_open 5
#define SYS_poll 168
#define SYS_clock_gettime 265

static inline s32 sc1(s32 n, s32 a) {
    s32 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a) : "memory");
    return r;
}
static inline s32 sc3(s32 n, s32 a, s32 b, s32 c) {
    s32 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}

static void sys_exit(int code) {
    for (;;) sc1(SYS_exit, code);
}

static int write_all(int fd, const void *buf, u32 len) {
    const u8 *p = (const u8 *)buf;
    while (len) {
        s32 r = sc3(SYS_write, fd, (s32)p, (s32)len);
        if (r == -4) continue; /* EINTR */
        if (r <= 0) return -1;
        p += r;
        len -= (u32)r;
    }
    return 0;
}

static u32 slen(const char *s) {
    u32 n = 0;
    while (s[n]) n++;
    return n;
}

static void puts_fd(int fd, const char *s) { write_all(fd, s, slen(s)); }

static int parse_u32(const char *s, u32 *out) {
    u32 v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (u32)(*s - '0');
    }
    *out = v;
    return 0;
}

/* Output buffer for formatted lines. */
static char obuf[8192];
static u32 olen;
static void oflush(void) {
    if (olen) write_all(1, obuf, olen);
    olen = 0;
}
static void ostr(const char *s) {
    while (*s) {
        if (olen == sizeof obuf) oflush();
        obuf[olen++] = *s++;
    }
}
static void ou32(u32 v) {
    char t[12];
    int i = 11;
    t[i] = 0;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ostr(t + i);
}
static void os32(s32 v) {
    if (v < 0) {
        ostr("-");
        ou32((u32)0 - (u32)v);
    } else {
        ou32((u32)v);
    }
}

static u32 now_ms(void) {
    s32 ts[2];
    sc3(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, (s32)ts, 0);
    return (u32)ts[0] * 1000u + (u32)ts[1] / 1000000u;
}

static void put16(u8 *p, u32 v) {
    p[0] = (u8)v;
    p[1] = (u8)(v >> 8);
}
static void put32(u8 *p, u32 v) {
    p[0] = (u8)v;
    p[1] = (u8)(v >> 8);
    p[2] = (u8)(v >> 16);
    p[3] = (u8)(v >> 24);
}

static s16 sig_sample(u32 f, u32 c) {
    if (c == 0) return (s16)(u16)(f & 0xFFFFu);
    u32 p = (f + 12u * (c - 1u)) % 48u;
    s32 v = p < 24u ? -16384 + 1365 * (s32)p : 16376 - 1365 * (s32)(p - 24u);
    return (s16)v;
}

static u8 sbuf[16384];

static int cmd_sig(int argc, char **argv) {
    u32 rate, ch, frames, pad;
    if (argc != 6 || parse_u32(argv[2], &rate) || parse_u32(argv[3], &ch) ||
        parse_u32(argv[4], &frames) || parse_u32(argv[5], &pad) || ch < 1 || ch > 8 || rate < 1) {
        puts_fd(2, "usage: uhcitool sig RATE CHANNELS FRAMES PADFRAMES\n");
        return 2;
    }
    u32 bpf = 2u * ch;
    u32 total = frames + pad;
    u32 data = total * bpf;
    u8 h[44];
    h[0] = 'R'; h[1] = 'I'; h[2] = 'F'; h[3] = 'F';
    put32(h + 4, 36u + data);
    h[8] = 'W'; h[9] = 'A'; h[10] = 'V'; h[11] = 'E';
    h[12] = 'f'; h[13] = 'm'; h[14] = 't'; h[15] = ' ';
    put32(h + 16, 16);
    put16(h + 20, 1); /* PCM */
    put16(h + 22, ch);
    put32(h + 24, rate);
    put32(h + 28, rate * bpf);
    put16(h + 32, bpf);
    put16(h + 34, 16);
    h[36] = 'd'; h[37] = 'a'; h[38] = 't'; h[39] = 'a';
    put32(h + 40, data);
    if (write_all(1, h, 44)) return 1;
    u32 n = 0;
    for (u32 f = 0; f < total; f++) {
        for (u32 c = 0; c < ch; c++) {
            u32 v = f < frames ? (u32)(u16)sig_sample(f, c) : 0u;
            put16(sbuf + n, v);
            n += 2;
        }
        if (n + bpf > sizeof sbuf) {
            if (write_all(1, sbuf, n)) return 1;
            n = 0;
        }
    }
    if (n && write_all(1, sbuf, n)) return 1;
    return 0;
}

struct pollfd_ {
    s32 fd;
    s16 events;
    s16 revents;
};

#define MAXDEV 16

static int cmd_evdev(int argc, char **argv) {
    u32 dur;
    if (argc < 4 || parse_u32(argv[2], &dur)) {
        puts_fd(2, "usage: uhcitool evdev MILLISECONDS NODE...\n");
        return 2;
    }
    struct pollfd_ pfd[MAXDEV];
    const char *names[MAXDEV];
    int n = 0;
    for (int i = 3; i < argc && n < MAXDEV; i++) {
        char path[64];
        const char *pre = "/dev/input/";
        u32 k = 0;
        for (const char *s = pre; *s; s++) path[k++] = *s;
        for (const char *s = argv[i]; *s && k < sizeof path - 1; s++) path[k++] = *s;
        path[k] = 0;
        s32 fd = sc3(SYS_open, (s32)path, 0x800 /* O_RDONLY|O_NONBLOCK */, 0);
        if (fd < 0) {
            ostr("@@UHCI {\"event\":\"error\",\"message\":\"cannot open ");
            ostr(path);
            ostr("\"}\n");
            oflush();
            continue;
        }
        pfd[n].fd = fd;
        pfd[n].events = 1; /* POLLIN */
        pfd[n].revents = 0;
        names[n] = argv[i];
        n++;
    }
    /* Tell the host the nodes are open: events it injects from now on are all read. */
    ostr("@@UHCI {\"event\":\"input-open\",\"nodes\":");
    ou32((u32)n);
    ostr("}\n");
    oflush();
    u32 start = now_ms();
    u32 count = 0;
    for (;;) {
        u32 el = now_ms() - start;
        if (el >= dur || n == 0) break;
        s32 r = sc3(SYS_poll, (s32)pfd, n, (s32)(dur - el));
        if (r == -4) continue;
        if (r < 0) break;
        for (int i = 0; i < n; i++) {
            if (!(pfd[i].revents & 1)) continue;
            /* i386 struct input_event: u32 sec, u32 usec, u16 type, u16 code, s32 value */
            u32 ev[4 * 32];
            s32 got = sc3(SYS_read, pfd[i].fd, (s32)ev, sizeof ev);
            if (got <= 0) continue;
            for (s32 j = 0; j + 16 <= got; j += 16) {
                u32 *e = ev + j / 4;
                ostr("@@UHCI {\"event\":\"input\",\"node\":\"");
                ostr(names[i]);
                ostr("\",\"sec\":");
                ou32(e[0]);
                ostr(",\"usec\":");
                ou32(e[1]);
                ostr(",\"type\":");
                ou32(e[2] & 0xFFFFu);
                ostr(",\"code\":");
                ou32(e[2] >> 16);
                ostr(",\"value\":");
                os32((s32)e[3]);
                ostr("}\n");
                count++;
            }
            oflush();
        }
    }
    ostr("@@UHCI {\"event\":\"input-summary\",\"events\":");
    ou32(count);
    ostr(",\"ms\":");
    ou32(now_ms() - start);
    ostr("}\n");
    oflush();
    return 0;
}

static int cmd_ms(void) {
    ou32(now_ms());
    ostr("\n");
    oflush();
    return 0;
}

static int streq(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

int main_c(int argc, char **argv) {
    if (argc >= 2 && streq(argv[1], "sig")) return cmd_sig(argc, argv);
    if (argc >= 2 && streq(argv[1], "evdev")) return cmd_evdev(argc, argv);
    if (argc >= 2 && streq(argv[1], "ms")) return cmd_ms();
    puts_fd(2, "usage: uhcitool sig|evdev|ms ...\n");
    return 2;
}

__attribute__((used)) void start_c(u32 *sp) {
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    sys_exit(main_c(argc, argv));
}

__asm__(".text\n.globl _start\n_start:\n"
        "  xorl %ebp, %ebp\n"
        "  movl %esp, %eax\n"
        "  andl $-16, %esp\n"
        "  subl $12, %esp\n"
        "  pushl %eax\n"
        "  call start_c\n"
        "  hlt\n");
