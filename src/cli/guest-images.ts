import { type GuestImages, loadGuestImages } from "../node/bundled-guest.ts";
import { UsageError } from "./args.ts";
import { userPath } from "./user-paths.ts";

/**
 * The guest images from `--guest-dir` (or the bundled ones); a missing or unreadable file is a usage
 * error. The folder is a file system path made absolute by {@link userPath} (so an error names the
 * folder that was read): a relative path or one with `#` or `%` in it means what it says.
 */
export function loadImagesFor(dir: string | undefined): GuestImages {
  try {
    return dir === undefined ? loadGuestImages() : loadGuestImages(userPath(dir));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
