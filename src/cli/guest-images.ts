import { type GuestImages, loadGuestImages } from "../node/bundled-guest.ts";
import { UsageError } from "./args.ts";

/** The guest images from `--guest-dir` (or the bundled ones); a missing or unreadable file is a usage error. */
export function loadImagesFor(dir: string | undefined): GuestImages {
  try {
    return dir === undefined ? loadGuestImages() : loadGuestImages(dir);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
