#!/usr/bin/env python3
"""Send key presses and mouse clicks to an X display through the XTEST extension (libXtst), the
way a person would type and click; used by studio_screenshots.sh to walk the built studio under
Xvfb without xdotool.

  studio_send_input.py key alt+2      press Alt+2
  studio_send_input.py key ctrl+r
  studio_send_input.py click 640 400  left click at screen position (640, 400)
  studio_send_input.py type "some text"  type letters, digits, spaces and . , ? : (lower case)
"""
import ctypes
import sys
import time

x11 = ctypes.CDLL("libX11.so.6")
xtst = ctypes.CDLL("libXtst.so.6")
x11.XOpenDisplay.restype = ctypes.c_void_p
x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
x11.XStringToKeysym.restype = ctypes.c_ulong
x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
x11.XKeysymToKeycode.restype = ctypes.c_ubyte
x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
x11.XFlush.argtypes = [ctypes.c_void_p]
xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
xtst.XTestFakeButtonEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_ulong]

MODIFIERS = {"alt": "Alt_L", "ctrl": "Control_L", "shift": "Shift_L"}
NAMES = {"return": "Return", "tab": "Tab", "space": "space"}
PUNCTUATION = {" ": "space", ".": "period", ",": "comma", ":": "colon", "?": "question"}


def keycode(display, name):
    code = x11.XKeysymToKeycode(display, x11.XStringToKeysym(name.encode()))
    if code == 0:
        sys.exit(f"error: no key for {name!r}")
    return code


def main():
    display = x11.XOpenDisplay(None)
    if not display:
        sys.exit("error: cannot open the X display ($DISPLAY)")
    if sys.argv[1:2] == ["key"] and len(sys.argv) == 3:
        names = [MODIFIERS.get(part, NAMES.get(part, part)) for part in sys.argv[2].lower().split("+")]
        codes = [keycode(display, name) for name in names]
        for code in codes:
            xtst.XTestFakeKeyEvent(display, code, 1, 0)
        for code in reversed(codes):
            xtst.XTestFakeKeyEvent(display, code, 0, 0)
    elif sys.argv[1:2] == ["type"] and len(sys.argv) == 3:
        shift = keycode(display, "Shift_L")
        for char in sys.argv[2]:
            shifted = char in "?:"
            if shifted:
                xtst.XTestFakeKeyEvent(display, shift, 1, 0)
            code = keycode(display, PUNCTUATION.get(char, char))
            xtst.XTestFakeKeyEvent(display, code, 1, 0)
            xtst.XTestFakeKeyEvent(display, code, 0, 0)
            if shifted:
                xtst.XTestFakeKeyEvent(display, shift, 0, 0)
            x11.XFlush(display)
    elif sys.argv[1:2] == ["click"] and len(sys.argv) == 4:
        xtst.XTestFakeMotionEvent(display, -1, int(sys.argv[2]), int(sys.argv[3]), 0)
        x11.XFlush(display)
        time.sleep(0.1)
        xtst.XTestFakeButtonEvent(display, 1, 1, 0)
        xtst.XTestFakeButtonEvent(display, 1, 0, 0)
    else:
        sys.exit(__doc__)
    x11.XFlush(display)
    time.sleep(0.2)


if __name__ == "__main__":
    main()
